"""Transfers: every transfer of a call (JSON) and the last target that answered, in its record.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("transfers", sa.Text))
        batch.add_column(sa.Column("transferred_to", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("transferred_to")
        batch.drop_column("transfers")
