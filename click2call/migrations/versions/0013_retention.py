"""Retention: a recording removed by retention is marked on its record (which stays until the records' own limit),
and the indexes the background removal reads by (retention.py), so that each batch is an index range, not a scan.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

KEPT = "recording_url IS NOT NULL AND recording_removed_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recording_removed_at", sa.Float))
    # the recordings still kept, oldest first: a pass reads only those, not every old record
    op.create_index("ix_calls_recording_kept", "calls", ["created_at"],
                    sqlite_where=sa.text(KEPT), postgresql_where=sa.text(KEPT))
    op.create_index("ix_deliveries_done", "deliveries", ["status", "created_at"])
    op.create_index("ix_deliveries_event", "deliveries", ["event_id"])  # an event still referred to is kept
    op.create_index("ix_webhook_events_created_at", "webhook_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_created_at", "webhook_events")
    op.drop_index("ix_deliveries_event", "deliveries")
    op.drop_index("ix_deliveries_done", "deliveries")
    op.drop_index("ix_calls_recording_kept", "calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("recording_removed_at")
