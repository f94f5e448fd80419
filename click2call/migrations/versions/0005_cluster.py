"""The cluster: the node a call runs on and the replica that runs it, the token that placed it, what the replica that
starts or adopts a call must know of the request (auto-answer, timeouts, whether to record), one click-to-call per
extension enforced by the database; node leases, replicas, and requests for calls another replica runs.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BUSY = "status = 'IN_PROGRESS' AND token IS NOT NULL"
ACTIVE = "status = 'IN_PROGRESS'"


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("node", sa.String(64)))
        batch.add_column(sa.Column("token", sa.String(32)))
        batch.add_column(sa.Column("auto_answer", sa.Boolean))
        batch.add_column(sa.Column("ring_timeout", sa.Integer))
        batch.add_column(sa.Column("dial_timeout", sa.Integer))
        batch.add_column(sa.Column("record_url", sa.String(255)))
        batch.add_column(sa.Column("claimed_by", sa.String(64)))
    # Calls in progress at the upgrade were started by the replica that ran them (not for another to start).
    op.execute("UPDATE calls SET claimed_by = 'before-0005' WHERE status = 'IN_PROGRESS'")
    op.create_index("ux_calls_busy_extension", "calls", ["extension"], unique=True,
                    sqlite_where=sa.text(BUSY), postgresql_where=sa.text(BUSY))
    op.create_index("ix_calls_token_active", "calls", ["token"],
                    sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))
    op.create_table(
        "asterisk_nodes",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64)),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("reachable", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "replicas",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_table(
        "call_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("by", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("done_at", sa.Float),
    )
    op.create_index("ix_call_requests_call", "call_requests", ["call_id"])


def downgrade() -> None:
    op.drop_table("call_requests")
    op.drop_table("replicas")
    op.drop_table("asterisk_nodes")
    op.drop_index("ix_calls_token_active", "calls")
    op.drop_index("ux_calls_busy_extension", "calls")
    with op.batch_alter_table("calls") as batch:
        for column in ("claimed_by", "record_url", "dial_timeout", "ring_timeout", "auto_answer", "token", "node"):
            batch.drop_column(column)
