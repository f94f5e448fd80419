"""A webhook attempt keeps the start of the receiver's answer when it was not 2xx (its text says why it refused:
"invalid signature", "unknown call"), for whoever finds out why a CRM missed events.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.add_column(sa.Column("answer", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.drop_column("answer")
