"""Tenants: whose call a record is, whose calls a hook receives, and hooks that come from the tenants file.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("tenant", sa.String(64)))
        batch.create_index("ix_calls_tenant", ["tenant", "created_at"])
    with op.batch_alter_table("hooks") as batch:
        batch.add_column(sa.Column("tenant", sa.String(64)))
        batch.add_column(sa.Column("configured", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("hooks") as batch:
        batch.drop_column("configured")
        batch.drop_column("tenant")
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_tenant")
        batch.drop_column("tenant")
