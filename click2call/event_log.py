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
_LOCK = sa.select(sa.func.pg_advisory_xact_lock(LOCK))
_INSERT = stream_events.insert()


def append(conn: sa.Connection, rows: list[dict]) -> None:
    """Append events: each {event, body, tenant, extension, call_id, sequence, created_at}; body is the payload (a
    dict) or its JSON text already made (a webhook's, so the stream sends the very same bytes)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK)  # held until this transaction ends
    conn.execute(_INSERT, [
        {**row, "body": row["body"] if isinstance(row["body"], str) else
         json.dumps(row["body"], ensure_ascii=False, separators=(",", ":"))} for row in rows])
