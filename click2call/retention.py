"""Retention: how long records, recordings, webhook deliveries (with their attempts and events), the live stream's log
and the audit trail are kept, and the background task that removes what is older.

One pass an hour (the first a minute after the start) takes each kind in turn and removes what is older than its
limit, a small batch per transaction with a short pause between, so the calls' writes go on beside it: on SQLite each
batch is one short transaction of the shared writer (GroupCommit); on PostgreSQL each batch locks only the rows it
takes, skipping any another transaction holds. In a cluster every replica runs the task, but a pass runs on one
replica at a time: it holds a PostgreSQL advisory lock (pg_try_advisory_lock) for the pass, and a replica that does
not get it skips its turn. Each row is removed by one DELETE and counted from what that DELETE returned, so a row is
counted once, by the replica that removed it (click2call_retention_removed_rows / _bytes, by kind).

Never removed: the record of a call in progress, a pending delivery (sent, waiting for a retry or being sent), an
outbox event a delivery still refers to. A recording removed on its own leaves its record, marked
(`recording_removed_at`): the API answers 410 RECORDING_EXPIRED for it; a record removed takes its recording.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from . import stats, tallies
from .db import (
    RETENTION_LOCK, GroupCommit, audit, call_requests, calls, deliveries, delivery_attempts, stream_events,
    webhook_events,
)
from .metrics import Metrics
from .states import CallStatus, DeliveryStatus, Kept

log = logging.getLogger(__name__)

DAY = 86400.0
BATCH = 500  # rows one transaction removes at most
PAUSE = 0.05  # seconds between two batches: the calls' writes go first
EVERY = 3600.0  # seconds between two passes
FIRST = 60.0  # seconds from the start to the first pass (a start is busy enough)

# Removes a recording's files (local and Asterisk's): (call_id, node) -> bytes removed (recordings.Recordings.remove)
RemoveRecording = Callable[[str, str | None], Awaitable[int]]


@dataclass(frozen=True)
class RetentionDays:
    """Days each kind is kept; 0: for ever."""

    records: int = 0
    recordings: int = 0
    delivered: int = 30
    failed: int = 90
    stream: int = 7
    audit: int = 365

    @property
    def events(self) -> int:
        """An outbox event with no delivery left is kept as long as the shorter-lived deliveries (0: for ever)."""
        return min((d for d in (self.delivered, self.failed) if d > 0), default=0)


def size(row: sa.Row | dict) -> int:
    """A removed row's bytes, as the metrics count them: the length of its stored values' text (not the database's
    pages, which no portable query tells)."""
    values = row.values() if isinstance(row, dict) else row._mapping.values()
    return sum(len(v) if isinstance(v, str) else len(str(v)) for v in values if v is not None)


class Retention:
    def __init__(self, engine: AsyncEngine, write: GroupCommit, limits: RetentionDays, metrics: Metrics,
                 remove_recording: RemoveRecording, *, batch: int = BATCH, pause: float = PAUSE) -> None:
        self.engine = engine
        self.write = write
        self.limits = limits
        self.metrics = metrics
        self.remove_recording = remove_recording
        self.batch = batch
        self.pause = pause
        self._postgresql = engine.dialect.name == "postgresql"

    async def run(self, every: float | None = None, first: float | None = None) -> None:
        """Pass after pass, for ever (cancel to stop), the first `first` seconds from now and then every `every`
        (default: FIRST, EVERY as they are when it starts). A failed pass is logged; the next one tries again."""
        every = EVERY if every is None else every
        await asyncio.sleep(FIRST if first is None else first)
        while True:
            try:
                await self.run_pass()
            except Exception as exc:  # the database being away now is no reason to stop for good
                self.metrics.retention_passes.labels("failed").inc()
                log.warning("retention pass failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(every)

    async def run_pass(self, now: float | None = None) -> dict[Kept, int] | None:
        """Remove everything older than its limit at `now`; rows removed by kind. None: another replica is running a
        pass (PostgreSQL), this one skips its turn."""
        now = time.time() if now is None else now
        if not self._postgresql:
            return await self._pass(now)
        async with self.engine.connect() as lock:  # a session lock: held across the pass's own transactions
            taken = (await lock.execute(sa.select(sa.func.pg_try_advisory_lock(RETENTION_LOCK)))).scalar_one()
            await lock.commit()  # not idle in a transaction while the pass runs
            if not taken:
                self.metrics.retention_passes.labels("skipped").inc()
                return None
            try:
                return await self._pass(now)
            finally:
                await lock.execute(sa.select(sa.func.pg_advisory_unlock(RETENTION_LOCK)))
                await lock.commit()

    async def _pass(self, now: float) -> dict[Kept, int]:
        removed = {kind: 0 for kind in Kept}
        started = time.monotonic()
        limits = self.limits

        def before(days: int) -> float:
            return now - days * DAY

        # Records first: a record removed takes its recording, which the recordings' own step then need not read.
        if limits.records:
            await self._batches(removed, lambda: self._records(before(limits.records)))
        if limits.recordings:
            await self._batches(removed, lambda: self._recordings(before(limits.recordings), now))
        for days, status, kind in ((limits.delivered, DeliveryStatus.DELIVERED, Kept.DELIVERED),
                                   (limits.failed, DeliveryStatus.FAILED, Kept.FAILED)):
            if days:
                await self._batches(removed, lambda: self._deliveries(before(days), status, kind))
        if limits.events:
            cursor: list = []  # where the scan got to: events still referred to are passed over once per pass
            await self._batches(removed, lambda: self._events(before(limits.events), cursor))
        if limits.stream:
            await self._batches(removed, lambda: self._simple(
                stream_events, stream_events.c.position, stream_events.c.created_at, before(limits.stream),
                Kept.STREAM_EVENTS))
        if limits.audit:
            await self._batches(removed, lambda: self._simple(audit, audit.c.id, audit.c.at, before(limits.audit),
                                                              Kept.AUDIT))
        self.metrics.retention_passes.labels("done").inc()
        if any(removed.values()):
            log.info("retention pass: removed %s in %.1f s",
                     ", ".join(f"{n} {kind}" for kind, n in removed.items() if n), time.monotonic() - started)
        return removed

    async def _batches(self, removed: dict[Kept, int], batch: Callable[[], Awaitable[tuple[bool, dict]]]) -> None:
        """Run one kind's batches until one says it was the last, pausing between them."""
        while True:
            more, counts = await batch()
            for kind, (rows, size_) in counts.items():
                removed[kind] += rows
                if rows:
                    self.metrics.retention_rows.labels(kind).inc(rows)
                    self.metrics.retention_bytes.labels(kind).inc(size_)
            if not more:
                return
            await asyncio.sleep(self.pause)

    def _oldest(self, query: sa.Select) -> sa.Select:
        """A batch's rows: the oldest first, at most a batch; on PostgreSQL locked, passing over rows another
        transaction holds (it is not waited for; they come in a later batch or pass)."""
        query = query.limit(self.batch)
        return query.with_for_update(skip_locked=True) if self._postgresql else query

    async def _simple(self, table: sa.Table, key: sa.Column, age: sa.Column, before: float,
                      kind: Kept) -> tuple[bool, dict]:
        oldest = self._oldest(sa.select(key).where(age < before).order_by(age))
        statement = table.delete().where(key.in_(oldest.scalar_subquery())).returning(*table.c)

        def work(conn: sa.Connection) -> list:
            return conn.execute(statement).all()

        rows = await self.write(work)
        return len(rows) == self.batch, {kind: (len(rows), sum(map(size, rows)))}

    async def _records(self, before: float) -> tuple[bool, dict]:
        """Finished calls' records, with their requests and recordings (the files first: a record never goes while
        its recording stays behind unmarked)."""
        finished = (calls.c.created_at < before, calls.c.status != CallStatus.IN_PROGRESS)
        async with self.engine.connect() as conn:
            found = (await conn.execute(sa.select(
                calls.c.call_id, calls.c.node, calls.c.recording_url, calls.c.recording_removed_at,
            ).where(*finished).order_by(calls.c.created_at).limit(self.batch))).all()
        if not found:
            return False, {}
        recorded, files = 0, 0
        for r in found:
            if r.recording_url is not None and r.recording_removed_at is None:
                files += await self.remove_recording(r.call_id, r.node)
                recorded += 1
        ids = [r.call_id for r in found]
        gone = calls.delete().where(calls.c.call_id.in_(ids), *finished).returning(*calls.c)
        asked = call_requests.delete().where(call_requests.c.call_id.in_(ids)).returning(*call_requests.c)

        def work(conn: sa.Connection) -> tuple[list, list]:
            records = conn.execute(gone).all()
            days = {int(r.created_at // tallies.DAY) for r in records}
            tallies.forget(conn, days)
            stats.forget(conn, days)
            return records, conn.execute(asked).all()

        records, requests = await self.write(work)
        return len(found) == self.batch, {Kept.RECORDS: (len(records), sum(map(size, records))),
                                          Kept.CALL_REQUESTS: (len(requests), sum(map(size, requests))),
                                          Kept.RECORDINGS: (recorded, files)}

    async def _recordings(self, before: float, now: float) -> tuple[bool, dict]:
        """Recordings of finished calls older than the limit: removed, their records marked (kept)."""
        kept = (calls.c.recording_url.is_not(None), calls.c.recording_removed_at.is_(None),
                calls.c.created_at < before, calls.c.status != CallStatus.IN_PROGRESS)
        async with self.engine.connect() as conn:
            found = (await conn.execute(sa.select(calls.c.call_id, calls.c.node).where(*kept)
                                        .order_by(calls.c.created_at).limit(self.batch))).all()
        if not found:
            return False, {}
        files = 0
        for r in found:
            files += await self.remove_recording(r.call_id, r.node)
        mark = calls.update().where(calls.c.call_id.in_([r.call_id for r in found]), *kept).values(
            recording_removed_at=now)
        marked = await self.write(lambda conn: conn.execute(mark).rowcount)
        return len(found) == self.batch, {Kept.RECORDINGS: (marked, files)}

    async def _deliveries(self, before: float, status: DeliveryStatus, kind: Kept) -> tuple[bool, dict]:
        """Deliveries done (delivered, or given up) more than the limit ago, counted from when they were made or last
        resent, with their attempts. A pending one is never taken; one resent meanwhile is pending again."""
        c = deliveries.c
        oldest = self._oldest(sa.select(c.id).where(c.status == status, c.created_at < before).order_by(c.created_at))
        gone = deliveries.delete().where(c.id.in_(oldest.scalar_subquery()), c.status == status).returning(*deliveries.c)

        def work(conn: sa.Connection) -> tuple[list, list]:
            rows = conn.execute(gone).all()
            attempts = conn.execute(delivery_attempts.delete().where(
                delivery_attempts.c.delivery_id.in_([r.id for r in rows])).returning(*delivery_attempts.c)).all() \
                if rows else []
            return rows, attempts

        rows, attempts = await self.write(work)
        return len(rows) == self.batch, {kind: (len(rows), sum(map(size, rows))),
                                         Kept.ATTEMPTS: (len(attempts), sum(map(size, attempts)))}

    async def _events(self, before: float, cursor: list) -> tuple[bool, dict]:
        """Outbox events no delivery refers to any more, older than the limit. `cursor`: the (created_at, id) the scan
        reached in this pass, so events still referred to are read past once, not at every batch."""
        e = webhook_events.c
        unreferred = ~sa.exists().where(deliveries.c.event_id == e.id)
        query = sa.select(e.id, e.created_at).where(e.created_at < before, unreferred)
        if cursor:
            at, key = cursor
            query = query.where(sa.or_(e.created_at > at, sa.and_(e.created_at == at, e.id > key)))
        async with self.engine.connect() as conn:
            found = (await conn.execute(query.order_by(e.created_at, e.id).limit(self.batch))).all()
        if not found:
            return False, {}
        cursor[:] = [found[-1].created_at, found[-1].id]
        # Checked again in the delete: a resent delivery refers to its event all along, but the check costs nothing.
        gone = webhook_events.delete().where(e.id.in_([r.id for r in found]), unreferred).returning(*webhook_events.c)
        rows = await self.write(lambda conn: conn.execute(gone).all())
        return len(found) == self.batch, {Kept.WEBHOOK_EVENTS: (len(rows), sum(map(size, rows)))}
