"""Why a recording that was asked for did not happen; the agent channel of a dialplan handoff.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recording_error", sa.String(255)))
        batch.add_column(sa.Column("agent_channel", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("recording_error")
        batch.drop_column("agent_channel")
