"""Indexes for the record queries at a million calls (issue 17): every CDR filter that picks few calls out of many
(phone on either side, hotline, customer_id, extension, tenant, status) has an index that also gives the calls newest
first, (column, created_at, call_id), so a page is read in order and stops at its limit, and a keyset page starts
where the last ended. The status index carries duration (a total with min_duration is counted in the index), the
hotline's carries phone (the phone filter's hotline side, hotline = X and phone <> X, is read in the index); duration
has its own for min_duration alone; a tenant's token reads by status through (tenant, status, ...); (extension,
ended_at) finds an agent's last call end in one step.

The calls in progress (GET /v1/call, the monitor) have a partial index of their own, ix_calls_live: a few rows
however many calls the year had; the queries name the status as a literal so that both databases can use it.

SQLite chooses among indexes by statistics that only ANALYZE writes, and the service never runs it: without them it
took the tenant's index for the live calls of a tenant (reading all its calls) and the tenant's for an agent's own
calls. So the migration writes the statistics of a typical year (the proportions bench/records.py fills: a million
calls, thousands per extension, a few per number or customer, hundreds of thousands per status or tenant), as SQLite
documents for fixed plans; a database that was ANALYZEd already is analyzed again instead. PostgreSQL keeps its own
statistics (autovacuum).

On PostgreSQL an index is built under a lock that holds writes to calls back until it is made (some seconds each at a
million calls; bench/RECORDS.md).

Revision ID: 0014
Revises: 0013 (after the statistics and retention indexes, so that its statistics cover theirs too)
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# (old name, columns) replaced by (new name, columns)
REPLACED = [
    (("ix_calls_extension", ["extension"]), ("ix_calls_extension_created", ["extension", "created_at", "call_id"])),
    (("ix_calls_status", ["status"]), ("ix_calls_status_created", ["status", "created_at", "call_id", "duration"])),
    (("ix_calls_tenant", ["tenant", "created_at"]), ("ix_calls_tenant_created", ["tenant", "created_at", "call_id"])),
    (("ix_calls_phone", ["phone", "created_at"]), ("ix_calls_phone_created", ["phone", "created_at", "call_id"])),
]
NEW = [
    ("ix_calls_hotline_created", ["hotline", "created_at", "call_id", "phone"]),
    ("ix_calls_customer_created", ["customer_id", "created_at", "call_id"]),
    ("ix_calls_duration", ["duration"]),
    ("ix_calls_extension_ended", ["extension", "ended_at"]),
    ("ix_calls_tenant_status", ["tenant", "status", "created_at", "call_id", "duration"]),
]
LIVE = "status = 'IN_PROGRESS'"
# sqlite_stat1's "rows, then rows per distinct value of each leading column" for a typical year.
TYPICAL = {
    "sqlite_autoindex_calls_1": "1000000 1",
    "ix_calls_created_at": "1000000 1 1",
    "ix_calls_agent_sip_call_id": "1000000 1",
    "ix_calls_customer_sip_call_id": "1000000 1",
    "ix_calls_extension_created": "1000000 3000 1 1",
    "ix_calls_status_created": "1000000 200000 1 1 1",
    "ix_calls_tenant_created": "1000000 500000 1 1",
    "ix_calls_phone_created": "1000000 5 1 1",
    "ix_calls_hotline_created": "1000000 50000 1 1 1",
    "ix_calls_customer_created": "1000000 5 1 1",
    "ix_calls_duration": "1000000 100",
    "ix_calls_extension_ended": "1000000 3000 1",
    "ix_calls_tenant_status": "1000000 500000 100000 1 1 1",
    "ix_calls_live": "100 100 1",
    "ux_calls_busy_extension": "100 1",
    "ix_calls_token_active": "100 10",
    # 0012's and 0013's
    "ix_calls_stats": "1000000 1 1 1 1 1 1 1 1 1 1",
    "ix_calls_recording_kept": "250000 1",
}


def upgrade() -> None:
    for (old, _), (name, columns) in REPLACED:
        op.create_index(name, "calls", columns)
        op.drop_index(old, "calls")
    for name, columns in NEW:
        op.create_index(name, "calls", columns)
    op.create_index("ix_calls_live", "calls", ["status", "created_at"], sqlite_where=sa.text(LIVE),
                    postgresql_where=sa.text(LIVE))
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_statistics()


def _sqlite_statistics() -> None:
    conn = op.get_bind()
    conn.exec_driver_sql("ANALYZE sqlite_master")  # makes sqlite_stat1 if there is none (reads no table)
    if conn.exec_driver_sql("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'calls'").scalar():
        conn.exec_driver_sql("ANALYZE calls")  # analyzed before: its real statistics, the new indexes' too
        return
    indexes = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'calls'"
                                       ).scalars())
    conn.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES " + ", ".join(
        f"('calls', '{name}', '{stat}')" for name, stat in TYPICAL.items() if name in indexes))
    conn.exec_driver_sql("ANALYZE sqlite_master")  # this connection plans with them from now on


def downgrade() -> None:
    op.drop_index("ix_calls_live", "calls")
    for name, _ in NEW:
        op.drop_index(name, "calls")
    for (old, old_columns), (name, _) in REPLACED:
        op.create_index(old, "calls", old_columns)
        op.drop_index(name, "calls")
