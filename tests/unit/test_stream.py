"""GET /v1/stream: the live event stream, through the service's real routes on a real uvicorn on 127.0.0.1, read by a
real SSE client (httpx-sse), over a real database (a SQLite file and PostgreSQL). Calls are written through the real
record store and outbox, as the Stasis app writes them; their webhooks go to a real HTTP receiver."""

from __future__ import annotations

import asyncio
import contextlib
import random

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from httpx_sse import aconnect_sse
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from click2call import event_log
from click2call.config import Settings
from click2call.db import async_url, metadata, open_database, stream_events
from click2call.errors import ApiError
from click2call.http.app import api_error, http_error, internal_error
from click2call.http.routes import routes
from click2call.live_stream import SLOW, STOPPING, Tailer, Wanted

from .factories import AGENT_ANSWERS, AGENT_BUSY, AGENT_RINGS, CONNECTED, CONNECTED_EVENTS, CUSTOMER_RINGS, Call
from .factories import CUSTOMER_ANSWERS, CUSTOMER_HANGS_UP, AGENT_GONE
from .helpers import SECRET, Process, eventually

OPERATOR_TOKEN = "operator-token-0123456789"
ACME_TOKEN, BETA_TOKEN = "acme-token-0123456789ab", "beta-token-0123456789ab"
TENANTS = f"""
[[tenant]]
name = "acme"
tokens = ["{ACME_TOKEN}"]
extensions = ["101", "102"]
hotlines = ["02873000001"]

[[tenant]]
name = "beta"
tokens = ["{BETA_TOKEN}"]
extensions = ["201"]
hotlines = ["02873000001"]
"""


def settings(tmp_path, heartbeat: str = "15") -> Settings:
    path = tmp_path / "tenants.toml"
    path.write_text(TENANTS)
    return Settings.from_env({"C2C_API_TOKENS": OPERATOR_TOKEN, "C2C_HOTLINES": "02873000001=trunk-a",
                              "C2C_TENANTS_FILE": str(path), "C2C_WEBHOOK_SECRET": SECRET,
                              "C2C_STREAM_HEARTBEAT": heartbeat})


def auth(token: str = OPERATOR_TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Server:
    """The service's routes on a real uvicorn (in this event loop), with a tailer of its own on the database: one
    replica's HTTP side, as the lifespan wires it."""

    def __init__(self, engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    async def __aenter__(self) -> "Server":
        app = Starlette(routes=routes, exception_handlers={
            ApiError: api_error, HTTPException: http_error, Exception: internal_error})
        app.state.directory = self.settings.directory()
        app.state.settings = self.settings
        app.state.stream = self.tailer = Tailer(self.engine)
        self._tail = asyncio.create_task(self.tailer.run())
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off",
                                                    log_level="warning", timeout_graceful_shutdown=5))
        self._serve = asyncio.create_task(self.server.serve())
        await eventually(lambda: self.server.started, what="uvicorn started")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx.AsyncClient(base_url=self.base, timeout=httpx.Timeout(10.0))
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()
        await self.http.aclose()

    async def stop(self) -> None:
        if self._serve.done():
            return
        self.server.should_exit = True
        await self._serve
        await self.tailer.close()
        self._tail.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._tail


class Listener:
    """One SSE client reading the stream in the background: the events it got, and whether the stream is live (the
    `retry:` it is told once the backlog is sent). Comments (heartbeats, the last word) are not events: `raw` has
    every line as received."""

    def __init__(self, server: Server, token: str = OPERATOR_TOKEN, params: dict | None = None,
                 last_event_id: str | None = None) -> None:
        self.server = server
        self.headers = auth(token) | ({"Last-Event-ID": last_event_id} if last_event_id is not None else {})
        self.params = params or {}
        self.events: list = []
        self.live = asyncio.Event()
        self.ended = asyncio.Event()
        self.status: int | None = None

    async def __aenter__(self) -> "Listener":
        self._task = asyncio.create_task(self._read())
        await eventually(lambda: self.live.is_set() or self.ended.is_set(), timeout=10, what="the stream live")
        assert self.live.is_set(), f"the stream did not go live: {self.status}"
        return self

    async def _read(self) -> None:
        try:
            async with aconnect_sse(self.server.http, "GET", "/v1/stream", params=self.params,
                                    headers=dict(self.headers)) as source:
                self.status = source.response.status_code
                async for sse in source.aiter_sse():
                    if sse.retry is not None and not sse.data:  # a block of retry alone: no event
                        self.live.set()
                    else:
                        self.events.append(sse)
        finally:
            self.ended.set()

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._task

    async def got(self, n: int) -> list:
        await eventually(lambda: len(self.events) >= n, timeout=10, what=f"{n} events (got {len(self.events)})")
        return self.events

    @property
    def ids(self) -> list[int]:
        return [int(e.id) for e in self.events]

    def seen(self) -> list[tuple[str, str, str]]:
        return [(e.event, e.json()["call_id"], e.json()["leg"]) for e in self.events]


@pytest.fixture
async def replica(engine, tmp_path, receiver):
    """A replica: records and webhooks (the default hook to the receiver) and its HTTP side."""
    async with Process(engine, default_url=receiver.url("/all")) as proc, Server(engine, settings(tmp_path)) as server:
        yield proc, server


async def test_a_calls_events_stream_in_order_with_the_webhooks_very_bodies(replica, receiver):
    proc, server = replica
    async with Listener(server) as client:
        call = await Call(proc.store).run(CONNECTED)
        got = await client.got(6)
        await eventually(lambda: len(receiver.received("/all", call.call_id)) >= 6, what="six webhooks")

    assert [(e.event, e.json()["leg"]) for e in got] == CONNECTED_EVENTS
    assert client.ids == sorted(client.ids) and len(set(client.ids)) == 6
    assert [e.json()["sequence"] for e in got] == [1, 2, 3, 4, 5, 6]
    webhooks = {r["json"]["sequence"]: r["body"].decode() for r in receiver.received("/all", call.call_id)}
    assert [e.data for e in got] == [webhooks[s] for s in range(1, 7)]  # the same bytes, byte for byte
    async with proc.engine.connect() as conn:
        stored = (await conn.execute(sa.select(stream_events.c.position, stream_events.c.extension).order_by(
            stream_events.c.position))).all()
    assert [p for p, _ in stored] == client.ids and {e for _, e in stored} == {"101"}


async def test_every_event_is_logged_even_when_no_hook_receives_it(engine, tmp_path):
    async with Process(engine) as proc, Server(engine, settings(tmp_path)) as server:  # no hook at all
        async with Listener(server) as client:
            call = await Call(proc.store).run(AGENT_BUSY)
            got = await client.got(3)
    assert [(e.event, e.json()["call_id"], e.json()["sequence"]) for e in got] == [
        ("ringing", call.call_id, 1), ("hangup", call.call_id, 2), ("cdr", call.call_id, 3)]
    assert got[2].json()["cdr"]["status"] == "BUSY"


async def test_filters_by_extension_and_by_event(replica):
    proc, server = replica
    async with Listener(server, params={"extension": "102"}) as by_ext, \
            Listener(server, params={"event": "hangup,ringing"}) as by_event, \
            Listener(server, params={"extension": "101", "event": "cdr"}) as both:
        one = await Call(proc.store, ext="101").run(AGENT_BUSY)
        two = await Call(proc.store, ext="102").run(AGENT_BUSY)
        await by_event.got(4)
        await by_ext.got(3)
        await both.got(1)
        await Call(proc.store, ext="103").run([AGENT_RINGS])  # a later event: the first ones are all in by now
        await by_event.got(5)
    assert by_ext.seen() == [("ringing", two.call_id, "agent"), ("hangup", two.call_id, "agent"),
                             ("cdr", two.call_id, "")]
    assert [(e, c) for e, c, _ in by_event.seen()][:4] == [
        ("ringing", one.call_id), ("hangup", one.call_id), ("ringing", two.call_id), ("hangup", two.call_id)]
    assert [(e, c) for e, c, _ in both.seen()] == [("cdr", one.call_id)]


async def test_a_tenant_sees_only_its_own_calls_and_the_operator_sees_every_call(replica):
    proc, server = replica
    async with Listener(server, ACME_TOKEN) as acme, Listener(server, BETA_TOKEN) as beta, \
            Listener(server) as operator:
        a = await Call(proc.store, tenant="acme", ext="101").run(AGENT_BUSY)
        b = await Call(proc.store, tenant="beta", ext="201").run([AGENT_RINGS])
        mine = await Call(proc.store, ext="101").run([AGENT_RINGS])  # the operator's own call, same extension
        await operator.got(5)
        await beta.got(1)
        await acme.got(3)
        last = await Call(proc.store, tenant="beta", ext="201").run([AGENT_RINGS])  # after all the others
        await beta.got(2)
        # The extension filter never widens a tenant's view: acme's 101 is not the operator's 101.
        async with Listener(server, ACME_TOKEN, params={"extension": "101", "last_event_id": "0"}) as again:
            await again.got(3)
    assert {c for _, c, _ in acme.seen()} == {a.call_id} and len(acme.events) == 3
    assert [c for _, c, _ in beta.seen()] == [b.call_id, last.call_id]
    assert {c for _, c, _ in operator.seen()} >= {a.call_id, b.call_id, mine.call_id}
    assert {c for _, c, _ in again.seen()} == {a.call_id} and len(again.events) == 3
    other = await server.http.get("/v1/stream", params={"extension": "201"}, headers=auth(ACME_TOKEN))
    assert (other.status_code, other.json()["error"]) == (403, "EXTENSION_NOT_ALLOWED")


async def test_resuming_gets_exactly_what_was_missed_then_the_live_events(replica):
    proc, server = replica
    call = Call(proc.store)
    async with Listener(server) as first:
        await call.run([AGENT_RINGS, AGENT_ANSWERS])
        await first.got(2)
    last_seen = first.events[-1].id
    # Away: the call goes on, and another call comes and goes.
    await call.run([CUSTOMER_RINGS, CUSTOMER_ANSWERS])
    other = await Call(proc.store, ext="102").run(AGENT_BUSY)
    async with Listener(server, last_event_id=last_seen) as again:
        assert again.seen() == [("ringing", call.call_id, "customer"), ("answered", call.call_id, "customer"),
                                ("ringing", other.call_id, "agent"), ("hangup", other.call_id, "agent"),
                                ("cdr", other.call_id, "")]  # the backlog is sent before the stream is live
        await call.run([CUSTOMER_HANGS_UP, AGENT_GONE])
        await again.got(7)
    ids = first.ids + again.ids
    assert ids == sorted(set(ids))  # no repeat, in order
    async with proc.engine.connect() as conn:
        every = (await conn.execute(sa.select(stream_events.c.position).order_by(stream_events.c.position))).scalars()
        assert ids == list(every)  # no gap: every event of the log, once
    assert [e.json()["sequence"] for e in first.events + again.events if e.json()["call_id"] == call.call_id] == [
        1, 2, 3, 4, 5, 6]


async def test_resuming_by_query_parameter_and_the_header_wins_over_it(replica):
    proc, server = replica
    async with Listener(server) as first:
        call = await Call(proc.store).run(AGENT_BUSY)
        await first.got(3)
    ringing, hangup, cdr = first.ids
    async with Listener(server, params={"last_event_id": str(ringing)}) as by_query:
        await by_query.got(2)
    # EventSource reconnects with the URL it was given and the header of the last event it got: the header wins.
    async with Listener(server, params={"last_event_id": str(ringing)}, last_event_id=str(hangup)) as both:
        await Call(proc.store).run([AGENT_RINGS])
        await both.got(2)
    assert by_query.ids == [hangup, cdr]
    assert both.ids[0] == cdr and both.events[1].json()["call_id"] != call.call_id


async def test_a_client_without_last_event_id_starts_from_now(replica):
    proc, server = replica
    old = await Call(proc.store).run(AGENT_BUSY)
    async with Listener(server) as client:
        new = await Call(proc.store).run([AGENT_RINGS])
        await client.got(1)
    assert client.seen() == [("ringing", new.call_id, "agent")] and old.call_id != new.call_id


async def test_heartbeats_keep_an_idle_stream_talking(engine, tmp_path):
    async with Server(engine, settings(tmp_path, heartbeat="0.2")) as server:
        lines = []
        async with server.http.stream("GET", "/v1/stream", headers=auth()) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-store"
            async for line in response.aiter_lines():
                lines.append(line)
                if sum(line == ": heartbeat" for line in lines) == 3:
                    break
    assert "retry: 1000" in lines  # the stream went live; then nothing but heartbeats


@pytest.mark.parametrize("params,headers,status,code", [
    ({"event": "ringing,dialled"}, {}, 400, "INVALID_PARAMETER"),
    ({"event": ","}, {}, 400, "INVALID_PARAMETER"),
    ({"extension": "10 1"}, {}, 400, "INVALID_PARAMETER"),
    ({"extension": ".."}, {}, 400, "INVALID_PARAMETER"),
    ({"last_event_id": "-1"}, {}, 400, "INVALID_PARAMETER"),
    ({"last_event_id": "1.5"}, {}, 400, "INVALID_PARAMETER"),
    ({}, {"Last-Event-ID": "abc"}, 400, "INVALID_PARAMETER"),
    ({}, {"Last-Event-ID": "-3"}, 400, "INVALID_PARAMETER"),
    ({}, {"Last-Event-ID": "99999999999999999999"}, 400, "INVALID_PARAMETER"),
    ({"last_event_id": "5"}, {"Last-Event-ID": "x5"}, 400, "INVALID_PARAMETER"),
    ({}, {"Authorization": "Bearer wrong-token-0123456789"}, 401, "UNAUTHORIZED"),
])
async def test_bad_parameters_are_refused_before_the_stream_starts(engine, tmp_path, params, headers, status, code):
    async with Server(engine, settings(tmp_path)) as server:
        response = await server.http.get("/v1/stream", params=params, headers=auth() | headers)
        assert server.tailer.clients == 0
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert (response.json()["status"], response.json()["error"]) == ("fail", code)


async def test_a_stream_ends_cleanly_with_a_word_when_the_server_stops(engine, tmp_path):
    async with Server(engine, settings(tmp_path)) as server:
        lines = []
        async with server.http.stream("GET", "/v1/stream", headers=auth()) as response:
            async for line in response.aiter_lines():
                lines.append(line)
                if line.startswith("retry:"):
                    stopping = asyncio.create_task(server.stop())
            await stopping  # the body ended (no error reading it): a clean end, not a cut connection
    assert lines[-2:] == [f": {STOPPING}", ""]


@pytest.fixture
async def pg_empty(pg_url) -> str:
    """The PostgreSQL database, migrated and emptied."""
    engine = await open_database(pg_url)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)}"))
    await engine.dispose()
    return pg_url


async def test_two_replicas_streams_carry_the_events_written_through_either(pg_empty, tmp_path):
    """Two replicas on one PostgreSQL: each replica's tailer sees what the other one's calls wrote."""
    engines = [create_async_engine(async_url(pg_empty)) for _ in range(2)]
    try:
        async with Process(engines[0]) as one, Process(engines[1]) as two, \
                Server(engines[0], settings(tmp_path)) as server_one, \
                Server(engines[1], settings(tmp_path)) as server_two:
            async with Listener(server_one) as a, Listener(server_two, params={"extension": "102"}) as b:
                here = await Call(one.store, ext="101").run(AGENT_BUSY)
                there = await Call(two.store, ext="102").run(AGENT_BUSY)
                await a.got(6)
                await b.got(3)
    finally:
        for engine in engines:
            await engine.dispose()
    assert [c for _, c, _ in a.seen()] == [here.call_id] * 3 + [there.call_id] * 3
    assert [c for _, c, _ in b.seen()] == [there.call_id] * 3 and b.ids == a.ids[3:]


async def test_a_client_too_slow_to_keep_up_is_let_go_with_a_word_and_resumes(sqlite_engine):
    tailer = Tailer(sqlite_engine, poll=0.02, queue=3)
    task = asyncio.create_task(tailer.run())
    try:
        stream = tailer.stream(Wanted(operator=True), None)
        assert (await anext(stream)).startswith(b"retry:")  # live: now it reads nothing for a while
        write = await _writer(sqlite_engine)
        for n in range(6):
            await write(n)
        await eventually(lambda: tailer.last >= 6, what="the tailer read all six")
        got = [message async for message in stream]
    finally:
        await tailer.close()
        await task
    assert [m.split(b"\r\n")[0] for m in got[:3]] == [b"id: 1", b"id: 2", b"id: 3"]  # what it had queued
    assert got[3] == f": {SLOW}\r\n\r\n".encode() and len(got) == 4  # then the word, and the end
    again = Tailer(sqlite_engine)
    assert [m.split(b"\r\n")[0] async for m in _backlog(again, 3)] == [b"id: 4", b"id: 5", b"id: 6"]


async def _backlog(tailer: Tailer, after: int):
    task = asyncio.create_task(tailer.run())
    try:
        async for message in tailer.stream(Wanted(operator=True), after):
            if message.startswith(b"retry:"):
                return
            yield message
    finally:
        await tailer.close()
        await task


async def _writer(engine):
    sync = sa.create_engine(engine.url.set(drivername=engine.url.drivername.split("+")[0]))

    async def write(n: int) -> None:
        def work():
            with sync.begin() as conn:
                event_log.append(conn, [{"event": "registered", "body": {"n": n}, "tenant": None, "extension": "101",
                                         "call_id": None, "sequence": None, "created_at": 0.0}])
        await asyncio.to_thread(work)

    return write


# Positions visible in commit order (event_log's lock), PostgreSQL only: SQLite has one writer.

def _append(conn, n: int) -> None:
    event_log.append(conn, [{"event": "state", "body": {"n": n}, "tenant": None, "extension": "101",
                             "call_id": None, "sequence": None, "created_at": 0.0}])


async def test_a_later_writer_waits_for_an_earlier_one_so_a_reader_never_skips_a_position(pg_empty):
    engine = create_async_engine(async_url(pg_empty))
    read = sa.select(stream_events.c.position).where(stream_events.c.position > sa.bindparam("after")).order_by(
        stream_events.c.position)
    try:
        async with engine.connect() as reader:
            start = (await reader.execute(sa.select(sa.func.coalesce(sa.func.max(stream_events.c.position), 0)))
                     ).scalar_one()
            await reader.commit()
            async with engine.connect() as early:
                await early.begin()
                await early.run_sync(_append, 1)  # position p, not committed yet
                pid = (await early.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()

                async def later() -> None:
                    async with engine.begin() as conn:
                        await conn.run_sync(_append, 2)

                writing = asyncio.create_task(later())
                waiting = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                  "AND pid <> :pid")
                await eventually(lambda: _scalar(engine, waiting, pid=pid), what="the later writer waiting")
                assert (await reader.execute(read, {"after": start})).scalars().all() == []
                await reader.commit()
                await early.commit()
            await writing
            seen = (await reader.execute(read, {"after": start})).scalars().all()
    finally:
        await engine.dispose()
    assert len(seen) == 2 and seen == sorted(seen)


async def _scalar(engine, statement, **params):
    async with engine.connect() as conn:
        return (await conn.execute(statement, params)).scalar_one()


async def test_concurrent_writers_never_let_a_tailing_reader_skip_a_position(pg_empty):
    engine = create_async_engine(async_url(pg_empty))
    done = asyncio.Event()
    seen: list[int] = []

    async def writer(w: int) -> None:
        for n in range(25):
            async with engine.begin() as conn:
                await conn.run_sync(_append, w * 100 + n)
                await asyncio.sleep(random.random() * 0.01)  # commit late: another writer's insert comes first
            await asyncio.sleep(random.random() * 0.005)

    async def reader() -> None:
        while True:
            finished = done.is_set()
            async with engine.connect() as conn:
                rows = (await conn.execute(sa.select(stream_events.c.position).where(
                    stream_events.c.position > (seen[-1] if seen else 0)).order_by(stream_events.c.position))).scalars()
                seen.extend(rows)
            if finished:
                return
            await asyncio.sleep(0.002)

    try:
        reading = asyncio.create_task(reader())
        await asyncio.gather(*(writer(w) for w in range(6)))
        done.set()
        await reading
        async with engine.connect() as conn:
            every = (await conn.execute(sa.select(stream_events.c.position).order_by(stream_events.c.position))
                     ).scalars().all()
    finally:
        await engine.dispose()
    assert len(every) == 150
    assert seen == every  # the reader, reading only after what it last saw, got every row once, in order
