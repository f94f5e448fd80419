"""The live event stream (GET /v1/stream): one tailer per replica reads the new rows of the event log and hands each
to the clients that want it; a client resuming from a position first reads what it missed from the log itself.

Why the tailer polls: one query every POLL seconds while it has clients (none while it has none) serves every client
of the replica, and sees every writer alike: this replica's calls, the other replicas' (the log is shared in the
database), and the agent events. A NOTIFY per transaction would wake it sooner, but it would cost every writing
transaction a statement and PostgreSQL's commit-time notify lock, on the calls' hot path, to save at most POLL of
latency on an event that is a screen-pop; an empty poll costs well under a millisecond (README, "Live stream").

A client misses nothing and gets nothing twice: the tailer's position T when the client joins splits the log in two.
What is at or before T is in the database already (positions become visible in commit order: event_log), and the
client reads it there; everything after T comes through the tailer. The client skips what it already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sse_starlette.event import ServerSentEvent

from .db import stream_events

log = logging.getLogger(__name__)

POLL = 0.1  # seconds between the tailer's reads while it has clients
BATCH = 500  # rows a read takes at most (a longer backlog is read at once in pages)
QUEUE = 1000  # events waiting for one client at most; past that it is too slow and is let go
RETRY_MS = 1000  # told to the client when the stream is live: how soon to reconnect after a drop

SLOW = "too slow to keep up: reconnect with Last-Event-ID to resume"
STOPPING = "the service is stopping: reconnect with Last-Event-ID to resume"
UNAVAILABLE = "the event log cannot be read: reconnect with Last-Event-ID to resume"

_COLUMNS = (stream_events.c.position, stream_events.c.event, stream_events.c.tenant, stream_events.c.extension,
            stream_events.c.body)
_TAIL = sa.select(*_COLUMNS).where(stream_events.c.position > sa.bindparam("after")).order_by(
    stream_events.c.position).limit(BATCH)
_END = sa.select(sa.func.coalesce(sa.func.max(stream_events.c.position), 0))


@dataclass(frozen=True, slots=True)
class Entry:
    """One event of the log, its SSE message made once for every client."""

    position: int
    event: str
    tenant: str | None
    extension: str | None
    message: bytes

    @classmethod
    def of(cls, row: sa.Row) -> "Entry":
        position, event, tenant, extension, body = row
        return cls(position, event, tenant, extension,
                   ServerSentEvent(data=body, id=str(position), event=event).encode())


@dataclass(frozen=True)
class Wanted:
    """What a client is shown: its tenant's events (all, for the operator), of one extension, of some events."""

    operator: bool
    tenant: str | None = None
    extension: str | None = None
    events: frozenset[str] | None = None

    def __call__(self, entry: Entry) -> bool:
        return ((self.operator or entry.tenant == self.tenant)
                and (self.extension is None or entry.extension == self.extension)
                and (self.events is None or entry.event in self.events))

    def where(self) -> list:
        clauses = []
        if not self.operator:
            clauses.append(stream_events.c.tenant == self.tenant)
        if self.extension is not None:
            clauses.append(stream_events.c.extension == self.extension)
        if self.events is not None:
            clauses.append(stream_events.c.event.in_(sorted(self.events)))
        return clauses


class Subscription:
    """One client's live events, in a bounded queue."""

    def __init__(self, wanted: Wanted, limit: int) -> None:
        self.wanted = wanted
        self.limit = limit
        self.start: int | None = None  # the tailer's position when it took the client: live events come after it
        self.ended: str | None = None  # why the stream ends
        self._items: deque[Entry] = deque()
        self._signal = asyncio.Event()

    def begin(self, position: int) -> None:
        self.start = position
        self._signal.set()

    def push(self, entry: Entry) -> None:
        if self.ended is not None:
            return
        if len(self._items) >= self.limit:
            self.end(SLOW)  # what it has queued is still sent; it resumes after that
            return
        self._items.append(entry)
        self._signal.set()

    def end(self, reason: str, drop: bool = False) -> None:
        if self.ended is None:
            self.ended = reason
        if drop:
            self._items.clear()
        self._signal.set()

    async def started(self) -> int | None:
        while self.start is None and self.ended is None:
            self._signal.clear()
            await self._signal.wait()
        return self.start

    async def next(self) -> Entry | None:
        """The next live event; None once the stream is to end."""
        while not self._items:
            if self.ended is not None:
                return None
            self._signal.clear()
            await self._signal.wait()
        return self._items.popleft()


class Tailer:
    """Reads the log's new rows while clients listen, and fans them out to the clients that want them."""

    def __init__(self, engine: AsyncEngine, poll: float = POLL, queue: int = QUEUE) -> None:
        self.engine = engine
        self.poll = poll
        self.queue = queue
        self.last = 0  # the position read up to
        self.reads = 0  # polls made (for the measurements)
        self._synced = False  # `last` is the log's end as of a read made while clients listened
        self._by_extension: dict[str | None, set[Subscription]] = {}  # None: clients of every extension
        self._wake = asyncio.Event()
        self._closed = False
        self._warned = False

    @property
    def clients(self) -> int:
        return sum(len(s) for s in self._by_extension.values())

    def subscribe(self, wanted: Wanted) -> Subscription:
        sub = Subscription(wanted, self.queue)
        if self._closed:
            sub.end(STOPPING)
            return sub
        self._by_extension.setdefault(wanted.extension, set()).add(sub)
        if self._synced:
            sub.begin(self.last)
        self._wake.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        group = self._by_extension.get(sub.wanted.extension)
        if group is not None:
            group.discard(sub)
            if not group:
                del self._by_extension[sub.wanted.extension]

    def wake(self) -> None:
        """Read now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while not self._closed:
            if not self._by_extension:
                self._synced = False  # nobody listens: `last` goes stale, and is read afresh for the next client
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                full = await self._step()
                self._warned = False
            except Exception as exc:
                if not self._warned:
                    log.warning("the live stream cannot read the event log: %s: %s", type(exc).__name__, exc)
                    self._warned = True
                await asyncio.sleep(1)
                continue
            if full:
                continue  # a backlog: read on at once
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._wake.wait()

    async def _step(self) -> bool:
        async with self.engine.connect() as conn:
            if not self._synced:
                # The clients that joined while nobody listened start at the log's end as it is now; what came
                # before is theirs to read from the database.
                self.last = (await conn.execute(_END)).scalar_one()
                self._synced = True
                for group in self._by_extension.values():
                    for sub in group:
                        if sub.start is None:
                            sub.begin(self.last)
            rows = (await conn.execute(_TAIL, {"after": self.last})).all()
        self.reads += 1
        if rows:
            self.last = rows[-1][0]
            everyone = self._by_extension.get(None, ())
            for row in rows:
                entry = Entry.of(row)
                for sub in (*everyone, *self._by_extension.get(entry.extension, ())) if entry.extension else everyone:
                    if sub.wanted(entry):
                        sub.push(entry)
        return len(rows) == BATCH

    async def close(self) -> None:
        """Every stream ends (at once: its client resumes from the last event it got)."""
        self._closed = True
        self._wake.set()
        for group in list(self._by_extension.values()):
            for sub in list(group):
                sub.end(STOPPING, drop=True)

    async def _page(self, wanted: Wanted, after: int, upto: int | None) -> list[Entry]:
        query = sa.select(*_COLUMNS).where(stream_events.c.position > after, *wanted.where())
        if upto is not None:
            query = query.where(stream_events.c.position <= upto)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(stream_events.c.position).limit(BATCH))).all()
        return [Entry.of(row) for row in rows]

    async def stream(self, wanted: Wanted, after: int | None,
                     stopping: anyio.Event | None = None) -> AsyncIterator[bytes]:
        """The SSE messages for one client: after `after` (None: from now), what it missed from the database, then
        the live events; ends with a comment saying why when it ends from this side (`stopping`: the server is
        stopping, or the tailer is closed)."""
        sent = after
        try:
            if sent is not None:  # the backlog, before joining: a long one does not fill the live queue
                while True:
                    page = await self._page(wanted, sent, None)
                    for entry in page:
                        sent = entry.position
                        yield entry.message
                    if len(page) < BATCH:
                        break
            sub = self.subscribe(wanted)
            watch = asyncio.ensure_future(_end_when(stopping, sub)) if stopping is not None else None
            try:
                start = await sub.started()
                if start is not None and sent is not None and start > sent:
                    # Committed between the backlog's last read and the tailer's position: still the database's.
                    while True:
                        page = await self._page(wanted, sent, start)
                        for entry in page:
                            sent = entry.position
                            yield entry.message
                        if len(page) < BATCH:
                            break
                    sent = max(sent, start)
                elif sent is None:
                    sent = start
                if start is not None:
                    yield ServerSentEvent(retry=RETRY_MS).encode()  # live from here on
                while (entry := await sub.next()) is not None:
                    if entry.position > sent:
                        sent = entry.position
                        yield entry.message
                yield ServerSentEvent(comment=sub.ended).encode()
            finally:
                self.unsubscribe(sub)
                if watch is not None:
                    watch.cancel()
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            log.warning("a live stream ended: the event log cannot be read: %s: %s", type(exc).__name__, exc)
            yield ServerSentEvent(comment=UNAVAILABLE).encode()


async def _end_when(stopping: anyio.Event, sub: Subscription) -> None:
    await stopping.wait()
    sub.end(STOPPING, drop=True)
