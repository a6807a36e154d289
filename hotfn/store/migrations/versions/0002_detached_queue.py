"""detached calls: the durable queue, and the attempt number on call records

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=True))
    op.create_table(
        "queued_calls",
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
        sa.Column("created_at", TS, nullable=False),
        sa.Column("run_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_queued_calls_ready", "queued_calls", ["status", "run_at"])
    op.create_index("ix_queued_calls_fn_id", "queued_calls", ["fn_id", "id"])


def downgrade() -> None:
    op.drop_table("queued_calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("attempts")
