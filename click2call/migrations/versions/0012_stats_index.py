"""GET /v1/stats: an index that covers what the statistics read of the calls of a period (the range on created_at,
then every column they count or filter on), so that a day's or a week's figures are read from the index alone,
without fetching each record (records are wide: JSON of the flow, actions, transfers).

Revision ID: 0012
Revises: 0010
"""

from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = ["created_at", "tenant", "status", "direction", "extension", "hotline", "ring_group", "answered_at",
           "customer_created_at", "billsec"]


def upgrade() -> None:
    op.create_index("ix_calls_stats", "calls", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_calls_stats", table_name="calls")
