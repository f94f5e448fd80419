"""Webhooks: subscriptions, the event outbox, deliveries and their attempts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen copy of the schema at this revision.
    op.create_table(
        "hooks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("callback_url", sa.String(2048), nullable=False),
        sa.Column("callback_apikey", sa.String(512)),
        sa.Column("secret", sa.String(256)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("disabled_at", sa.Float),
        sa.Column("disabled_reason", sa.String(255)),
    )
    op.create_index("ix_hooks_event", "hooks", ["event"])
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("call_id", "sequence", name="uq_webhook_events_call_sequence"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("hook_id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.String(255)),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_order", "deliveries", ["hook_id", "call_id", "sequence"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("attempted_at", sa.Float, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.String(255)),
        sa.Column("duration_ms", sa.Integer, nullable=False),
    )
    op.create_index("ix_delivery_attempts_delivery", "delivery_attempts", ["delivery_id"])


def downgrade() -> None:
    for table in ("delivery_attempts", "deliveries", "webhook_events", "hooks"):
        op.drop_table(table)
