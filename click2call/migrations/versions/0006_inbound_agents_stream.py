"""Inbound calls, agents and the event stream: an inbound call's ring group and the state of its agent legs; agents'
pause state and presence (per node); the stream's event log, in commit order.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("ring_group", sa.String(64)))
        batch.add_column(sa.Column("flow", sa.Text))
    op.create_index("ix_calls_phone", "calls", ["phone", "created_at"])
    op.create_table(
        "agents",
        sa.Column("extension", sa.String(40), primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("paused_at", sa.Float),
        sa.Column("reason", sa.String(255)),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "agent_presence",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("extension", sa.String(40), primary_key=True),
        sa.Column("registered", sa.Boolean, nullable=False),
        sa.Column("contact", sa.String(512)),
        sa.Column("user_agent", sa.String(255)),
        sa.Column("network_ip", sa.String(64)),
        sa.Column("registered_since", sa.Float),
        sa.Column("call_state", sa.String(16), nullable=False),
        sa.Column("call_id", sa.String(64)),
        sa.Column("destination", sa.String(64)),
        sa.Column("direction", sa.String(16)),
        sa.Column("state_since", sa.Float, nullable=False),
        sa.Column("idle_since", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "stream_events",
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("tenant", sa.String(64)),
        sa.Column("extension", sa.String(40)),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("call_id", sa.String(64)),
        sa.Column("sequence", sa.Integer),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,  # a position is never handed out twice
    )
    op.create_index("ix_stream_events_call", "stream_events", ["call_id", "sequence"])
    op.create_index("ix_stream_events_created_at", "stream_events", ["created_at"])


def downgrade() -> None:
    for table in ("stream_events", "agent_presence", "agents"):
        op.drop_table(table)
    op.drop_index("ix_calls_phone", "calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("flow")
        batch.drop_column("ring_group")
