"""Call tallies (tallies.py): the calls of each ended UTC day counted per tenant, status and duration band, so that a
CDR total over months is a sum of tallies; and the statistics' sums of each ended local day (stats.py), so that a
month's or a year's figures by day or tenant are sums of those. The days already in the database are counted by the
service in the background after the start (seconds for a year); until a day is counted, its records are read as
before.

Two indexes gain a column so that what is still counted is counted in the index alone: the duration index leads a
total's part duration band (a min_duration between two bands' bounds), with created_at, status and tenant; the
extension's carries duration and tenant (an extension with min_duration; an agent token's calls, which are its
tenant's and its extension's); the hotline's carries tenant and status (a tenant's hotline with a status).

Revision ID: 0017
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None

WIDENED = [
    ("ix_calls_duration", ["duration"], ["duration", "created_at", "status", "tenant"], "1000000 100 1 1 1"),
    ("ix_calls_extension_created", ["extension", "created_at", "call_id"],
     ["extension", "created_at", "call_id", "duration", "tenant"], "1000000 3000 1 1 1 1"),
    ("ix_calls_hotline_created", ["hotline", "created_at", "call_id", "phone"],
     ["hotline", "created_at", "call_id", "phone", "tenant", "status"], "1000000 50000 1 1 1 1 1"),
]


def upgrade() -> None:
    op.create_table(
        "call_tallies",
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("band", sa.Integer, primary_key=True),
        sa.Column("calls", sa.Integer, nullable=False),
    )
    op.create_table(
        "tally_days",
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("counted_at", sa.Float, nullable=False),
    )
    op.create_table(
        "stat_tallies",
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("zone", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("direction", sa.String(16), primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("waits", sa.Integer, nullable=False),
        sa.Column("wait_in", sa.Float),
        sa.Column("wait_out", sa.Float),
        sa.Column("talk", sa.BigInteger),
    )
    op.create_table(
        "stat_days",
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("zone", sa.String(64), primary_key=True),
        sa.Column("counted_at", sa.Float, nullable=False),
    )
    for name, _, columns, _ in WIDENED:
        op.drop_index(name, "calls")
        op.create_index(name, "calls", columns)
    _sqlite_statistics({name: stat for name, _, _, stat in WIDENED})


def _sqlite_statistics(stats: dict[str, str]) -> None:
    """The widened indexes' typical statistics where 0014 wrote them (SQLite plans by them; see 0014)."""
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    if not conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar():
        return
    # dropping an index dropped its statistics; a database analyzed for real (more rows than 0014's typical
    # ones) is analyzed again instead
    if conn.exec_driver_sql("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'calls' AND idx = 'ix_calls_live' "
                            "AND stat = '100 100 1'").scalar():
        for name, stat in stats.items():
            conn.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('calls', ?, ?)", (name, stat))
    elif conn.exec_driver_sql("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'calls'").scalar():
        conn.exec_driver_sql("ANALYZE calls")
    conn.exec_driver_sql("ANALYZE sqlite_master")


def downgrade() -> None:
    for name, old, _, _ in WIDENED:
        op.drop_index(name, "calls")
        op.create_index(name, "calls", old)
    op.drop_table("stat_days")
    op.drop_table("stat_tallies")
    op.drop_table("tally_days")
    op.drop_table("call_tallies")
