"""The live stream's event log (GET /v1/stream): every call event and agent event, written in the transaction of the
change that caused it, at a position that grows in commit order.

PostgreSQL hands out serial numbers at insert, not at commit: two transactions could commit positions 8 then 7, and a
reader that had read up to 8 would never see 7. An advisory lock held to the commit makes the writers of the log take
turns, so positions become visible in order (SQLite has one writer: nothing to do).
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from .db import stream_events

LOCK = 0x6332_7374  # "c2st"
_INSERT = stream_events.insert()
_COLUMNS = ("tenant", "extension", "event", "call_id", "sequence", "body", "created_at")
# PostgreSQL: the lock is taken by the insert itself (its row is selected from the lock's result, so the lock is held
# before the row's position is drawn): one round trip for both, on the calls' hot path.
_LOCKED_INSERT = stream_events.insert().from_select(_COLUMNS, sa.select(
    *(sa.bindparam(name, type_=stream_events.c[name].type) for name in _COLUMNS)).select_from(
    sa.select(sa.func.pg_advisory_xact_lock(sa.literal_column(str(LOCK))).label("held")).subquery("lock")))


def append(conn: sa.Connection, rows: list[dict]) -> None:
    """Append events: each {event, body, tenant, extension, call_id, sequence, created_at}; body is the payload (a
    dict) or its JSON text already made (a webhook's, so the stream sends the very same bytes)."""
    if not rows:
        return
    conn.execute(_LOCKED_INSERT if conn.dialect.name == "postgresql" else _INSERT, [
        {**row, "body": row["body"] if isinstance(row["body"], str) else
         json.dumps(row["body"], ensure_ascii=False, separators=(",", ":"))} for row in rows])
