"""Call records.

Revision ID: 0001
Revises:
"""

from alembic import op

from click2call.db import calls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The first schema is the table as declared; later revisions alter it step by step.
    calls.create(op.get_bind())


def downgrade() -> None:
    calls.drop(op.get_bind())
