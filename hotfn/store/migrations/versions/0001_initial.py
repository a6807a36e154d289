"""apps, fns, triggers, calls and call logs

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("annotations", sa.Text, nullable=False),
        sa.Column("syslog_url", sa.Text, nullable=True),
        sa.Column("shape", sa.String(255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "fns",
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
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("annotations", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("app_id", "name", name="uq_fns_app_name"),
    )
    op.create_index("ix_fns_name", "fns", ["name", "id"])
    op.create_table(
        "triggers",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column(
            "app_id", sa.String(26), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "fn_id", sa.String(26), sa.ForeignKey("fns.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("annotations", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("app_id", "name", name="uq_triggers_app_name"),
        sa.UniqueConstraint("app_id", "type", "source", name="uq_triggers_app_source"),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("fn_id", sa.String(26), nullable=False),
        sa.Column("app_id", sa.String(26), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("queued_ms", sa.Float, nullable=True),
        sa.Column("start_ms", sa.Float, nullable=True),
        sa.Column("run_ms", sa.Float, nullable=True),
        sa.Column("start_path", sa.String(32), nullable=True),
        sa.Column("container_id", sa.String(128), nullable=True),
    )
    op.create_index("ix_calls_fn_id", "calls", ["fn_id", "id"])
    op.create_table(
        "call_logs",
        sa.Column("call_id", sa.String(26), primary_key=True),
        sa.Column("fn_id", sa.String(26), nullable=False),
        sa.Column("log", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("call_logs", "calls", "triggers", "fns", "apps"):
        op.drop_table(table)
