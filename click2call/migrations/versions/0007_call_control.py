"""Call control: the actions done on a call and the legs that joined it (supervisors) for its record, and requests for a call that another replica runs carrying
their parameters and answer.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("actions", sa.Text))
        batch.add_column(sa.Column("joined", sa.Text))
    with op.batch_alter_table("call_requests") as batch:
        batch.add_column(sa.Column("params", sa.Text))
        batch.add_column(sa.Column("result", sa.String(32)))
        batch.add_column(sa.Column("message", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("call_requests") as batch:
        batch.drop_column("message")
        batch.drop_column("result")
        batch.drop_column("params")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("joined")
        batch.drop_column("actions")
