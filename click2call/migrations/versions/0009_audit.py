"""The audit trail: every state-changing request, who asked (a token's id) and the result.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("token_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64)),
        sa.Column("client", sa.String(64)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(64)),
        sa.Column("extension", sa.String(40)),
        sa.Column("target", sa.String(255)),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error", sa.String(32)),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_tenant", "audit", ["tenant", "id"])
    op.create_index("ix_audit_call", "audit", ["call_id"])


def downgrade() -> None:
    op.drop_table("audit")
