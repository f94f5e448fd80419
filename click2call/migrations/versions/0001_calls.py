"""Call records.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen copy of the schema at this revision: later revisions alter it, this one never changes.
    legs = [
        sa.Column(f"{leg}_{name}", kind)
        for leg in ("agent", "customer")
        for name, kind in (
            ("sip_call_id", sa.String(255)), ("created_at", sa.Float), ("ringing_at", sa.Float),
            ("answered_at", sa.Float), ("ended_at", sa.Float), ("cause", sa.Integer), ("cause_txt", sa.String(64)),
        )
    ]
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("extension", sa.String(40), nullable=False),
        sa.Column("phone", sa.String(21), nullable=False),
        sa.Column("hotline", sa.String(21), nullable=False),
        sa.Column("trunk", sa.String(64), nullable=False),
        sa.Column("src_cid_name", sa.String(64)),
        sa.Column("src_cid_number", sa.String(21)),
        sa.Column("dest_cid_name", sa.String(64)),
        sa.Column("dest_cid_number", sa.String(21)),
        sa.Column("customer_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("phase_rank", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("answered_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("duration", sa.Integer),
        sa.Column("billsec", sa.Integer),
        sa.Column("hangup_by", sa.String(16)),
        sa.Column("cause", sa.Integer),
        sa.Column("cause_txt", sa.String(64)),
        sa.Column("result", sa.String(32)),
        *legs,
        sa.Column("recording_url", sa.String(255)),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_calls_created_at", "calls", ["created_at", "call_id"])
    op.create_index("ix_calls_extension", "calls", ["extension"])
    op.create_index("ix_calls_status", "calls", ["status"])
    op.create_index("ix_calls_agent_sip_call_id", "calls", ["agent_sip_call_id"])
    op.create_index("ix_calls_customer_sip_call_id", "calls", ["customer_sip_call_id"])


def downgrade() -> None:
    op.drop_table("calls")
