"""Table definitions (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Config and annotations are stored as JSON text so both dialects behave the same and
values come back exactly as stored. Times are UTC, stored timezone-aware.
The Alembic migrations in ``migrations/versions`` create exactly these tables.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_ts = sa.DateTime(timezone=True)

apps = sa.Table(
    "apps",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("config", sa.Text, nullable=False, default="{}"),
    sa.Column("annotations", sa.Text, nullable=False, default="{}"),
    sa.Column("syslog_url", sa.Text, nullable=True),
    sa.Column("shape", sa.String(255), nullable=True),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("updated_at", _ts, nullable=False),
)

fns = sa.Table(
    "fns",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column(
        "app_id", sa.String(26), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("image", sa.Text, nullable=False),
    sa.Column("memory", sa.Integer, nullable=False),
    sa.Column("timeout", sa.Integer, nullable=False),
    sa.Column("idle_timeout", sa.Integer, nullable=False),
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("config", sa.Text, nullable=False, default="{}"),
    sa.Column("annotations", sa.Text, nullable=False, default="{}"),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("updated_at", _ts, nullable=False),
    sa.UniqueConstraint("app_id", "name", name="uq_fns_app_name"),
)
sa.Index("ix_fns_name", fns.c.name, fns.c.id)

triggers = sa.Table(
    "triggers",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column(
        "app_id", sa.String(26), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("fn_id", sa.String(26), sa.ForeignKey("fns.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("annotations", sa.Text, nullable=False, default="{}"),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("updated_at", _ts, nullable=False),
    sa.UniqueConstraint("app_id", "name", name="uq_triggers_app_name"),
    sa.UniqueConstraint("app_id", "type", "source", name="uq_triggers_app_source"),
)

# Call records and logs: written by the agent off the call path (batched), bounded by
# retention; no foreign keys so a record can land after its fn was deleted.
calls = sa.Table(
    "calls",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("fn_id", sa.String(26), nullable=False),
    sa.Column("app_id", sa.String(26), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("started_at", _ts, nullable=True),
    sa.Column("completed_at", _ts, nullable=True),
    sa.Column("queued_ms", sa.Float, nullable=True),
    sa.Column("start_ms", sa.Float, nullable=True),
    sa.Column("run_ms", sa.Float, nullable=True),
    sa.Column("start_path", sa.String(32), nullable=True),
    sa.Column("container_id", sa.String(128), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=True),  # detached calls: which attempt
)
sa.Index("ix_calls_fn_id", calls.c.fn_id, calls.c.id)

call_logs = sa.Table(
    "call_logs",
    metadata,
    sa.Column("call_id", sa.String(26), primary_key=True),
    sa.Column("fn_id", sa.String(26), nullable=False),
    sa.Column("log", sa.Text, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
)

# Detached calls (hotfn/store/detached_queue.py): the durable queue. A row is written
# before the 202 and stays, through its attempts, until retention removes it after it
# ended (``success`` or ``failed``). ``run_at`` is when it may run (next attempt),
# ``lease_owner``/``lease_until`` the server running it and until when its claim holds.
queued_calls = sa.Table(
    "queued_calls",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("fn_id", sa.String(26), nullable=False),
    sa.Column("app_id", sa.String(26), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("headers", sa.Text, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("max_response", sa.Integer, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("run_at", _ts, nullable=False),
    sa.Column("expires_at", _ts, nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", _ts, nullable=True),
    sa.Column("started_at", _ts, nullable=True),
    sa.Column("completed_at", _ts, nullable=True),
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)
sa.Index("ix_queued_calls_ready", queued_calls.c.status, queued_calls.c.run_at)
sa.Index("ix_queued_calls_fn_id", queued_calls.c.fn_id, queued_calls.c.id)
