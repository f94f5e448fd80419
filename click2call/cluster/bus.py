"""Messages between replicas over PostgreSQL's LISTEN/NOTIFY, on one channel.

A notification is sent inside the transaction of the change it tells of (a call recorded for another replica to
start, a request for a call, a call's result, its end), so it is delivered exactly when that change is committed,
and never for a change that was rolled back. Notifications are a wake-up, not the record: whoever missed some
(its listening connection was lost) reads the database again (`on_reconnect`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

CHANNEL = "click2call"
_NOTIFY = sa.select(sa.func.pg_notify(CHANNEL, sa.bindparam("payload")))


class Kind:
    START = "start"  # a call was recorded for the owner of its node to start: {"call", "node"}
    REQUEST = "request"  # a request for a call (call_requests): {"call", "node"}
    RESULT = "result"  # a call's agent leg is decided: {"call", "result"}
    ENDED = "ended"  # a call's final record is written: {"call"}
    RELEASED = "released"  # a replica freed a node's lease: {"node"}; the others look at once
    REPLY = "reply"  # a request for a call was carried out: {"call": "request:<id>", "result"}


@dataclass(frozen=True)
class Message:
    kind: str
    call: str
    node: str = ""
    result: str = ""


def publish(conn: sa.Connection, message: Message) -> None:
    """Send with the transaction of `conn` (a synchronous connection, as in GroupCommit's works)."""
    payload = {"k": message.kind, "c": message.call}
    if message.node:
        payload["n"] = message.node
    if message.result:
        payload["r"] = message.result
    conn.execute(_NOTIFY, {"payload": json.dumps(payload, separators=(",", ":"))})


def parse(payload: str) -> Message | None:
    try:
        data = json.loads(payload)
        return Message(str(data["k"]), str(data["c"]), str(data.get("n", "")), str(data.get("r", "")))
    except (ValueError, KeyError, TypeError):
        return None


class Bus:
    """This replica's listening connection, and who waits for what."""

    def __init__(self, engine: AsyncEngine, handle: Callable[[Message], None],
                 on_reconnect: Callable[[], Awaitable[None]]) -> None:
        self.engine = engine
        self.handle = handle  # messages for the calls this replica runs
        self.on_reconnect = on_reconnect
        self.listening = asyncio.Event()
        self._waiters: dict[tuple[str, str], list[asyncio.Future[Message]]] = {}

    def expect(self, kind: str, call_id: str) -> asyncio.Future[Message]:
        """A future for the next message of this kind about this call. Take it before reading the database, so
        that nothing committed after the read is missed."""
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault((kind, call_id), []).append(future)
        future.add_done_callback(lambda f: self._forget((kind, call_id), f))
        return future

    def _forget(self, key: tuple[str, str], future: asyncio.Future) -> None:
        waiting = self._waiters.get(key)
        if waiting and future in waiting:
            waiting.remove(future)
            if not waiting:
                del self._waiters[key]

    def _received(self, _conn, _pid, _channel, payload: str) -> None:
        message = parse(payload)
        if message is None:
            log.warning("ignored a malformed notification on %s", CHANNEL)
            return
        for future in list(self._waiters.get((message.kind, message.call), ())):
            if not future.done():
                future.set_result(message)
        self.handle(message)

    async def run(self) -> None:
        """Listen forever on a connection of its own; after a lost connection, listen again and catch up."""
        first = True
        while True:
            lost = asyncio.Event()
            try:
                async with self.engine.connect() as conn:
                    raw = (await conn.get_raw_connection()).driver_connection
                    raw.add_termination_listener(lambda _c: lost.set())
                    await raw.add_listener(CHANNEL, self._received)
                    self.listening.set()
                    if not first:
                        await self.on_reconnect()
                    first = False
                    while not lost.is_set() and not raw.is_closed():
                        try:
                            async with asyncio.timeout(5):
                                await lost.wait()
                        except TimeoutError:
                            await raw.execute("SELECT 1")  # a connection that died quietly is found out
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cluster notifications lost: %s: %s; listening again", type(exc).__name__, exc)
            self.listening.clear()
            await asyncio.sleep(1)
