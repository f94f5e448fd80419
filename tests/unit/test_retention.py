"""Retention on a real SQLite file and a real PostgreSQL: each kind loses exactly what is older than its limit, in
batches, and nothing else (rows a minute either side of each limit; a call in progress, a pending delivery and an
event a delivery still refers to are never taken); a pass after a restart takes only what aged meanwhile; two
replicas passing at once on one PostgreSQL remove and count each row once."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import pytest
import sqlalchemy as sa

from starlette.testclient import TestClient

from click2call import retention as retention_module
from click2call.config import Settings
from click2call.db import (
    GroupCommit, RETENTION_LOCK, audit, call_requests, calls, deliveries, delivery_attempts, open_database,
    stream_events, webhook_events,
)
from click2call.http.app import create_app
from click2call.metrics import Metrics
from click2call.recordings import Recordings
from click2call.retention import DAY, RetentionDays, Retention
from click2call.states import Kept

NOW = 1_795_000_000.0  # 2026-11-18 UTC
MINUTE = 60.0
LIMITS = RetentionDays(records=400, recordings=100, delivered=30, failed=90, stream=7, audit=365)


def ago(days: float, minutes: float = 0.0) -> float:
    """`days` before NOW, then `minutes` further back (negative: newer)."""
    return NOW - days * DAY - minutes * MINUTE


def call(name: str, created: float, status: str = "ANSWERED", recorded: bool = False) -> dict:
    call_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
    return {"call_id": call_id, "direction": "outbound", "extension": "101", "phone": "0899000101",
            "hotline": "02873000001", "trunk": "trunk-a", "status": status,
            "phase": "connected" if status == "IN_PROGRESS" else "ended", "phase_rank": 3, "created_at": created,
            "updated_at": created, "customer_id": name, "node": "asterisk",
            "recording_url": f"http://x/v1/recordings/{call_id}" if recorded else None}


def delivery(name: str, status: str, created: float) -> dict:
    return {"id": f"d-{name}", "event_id": f"e-{name}", "hook_id": "default", "call_id": "c", "sequence": 1,
            "status": status, "attempts": 1, "next_attempt_at": created, "created_at": created}


def event(name: str, created: float) -> dict:
    return {"id": f"e-{name}", "call_id": f"c-{name}", "sequence": 1, "event": "hangup", "body": '{"x":1}',
            "created_at": created}


def fill(conn: sa.Connection) -> None:
    # records 400 days, recordings 100: either side of each limit, and one in progress far older than both
    conn.execute(calls.insert(), [
        call("old-record", ago(400, 1), recorded=True), call("young-record", ago(400, -1)),
        call("old-recording", ago(100, 1), recorded=True), call("young-recording", ago(100, -1), recorded=True),
        call("in-progress", ago(500), "IN_PROGRESS", recorded=True),
        *(call(f"old-{n}", ago(401)) for n in range(5)),  # a few batches' worth
    ])
    conn.execute(call_requests.insert(), [
        {"call_id": call(name, 0)["call_id"], "action": "hangup", "by": "api", "created_at": ago(401)}
        for name in ("old-record", "young-record")])
    conn.execute(deliveries.insert(), [
        delivery("delivered-old", "delivered", ago(30, 1)), delivery("delivered-young", "delivered", ago(30, -1)),
        delivery("failed-old", "failed", ago(90, 1)), delivery("failed-young", "failed", ago(90, -1)),
        delivery("failed-31", "failed", ago(31)),  # past the delivered limit, not the failed one
        delivery("pending-old", "pending", ago(200)),
    ])
    conn.execute(delivery_attempts.insert(), [
        {"delivery_id": f"d-{name}", "attempted_at": ago(0), "status_code": 500, "duration_ms": 3}
        for name in ("delivered-old", "delivered-old", "delivered-young", "failed-old", "pending-old")])
    # events: kept as long as the shorter-lived deliveries (30 days) once no delivery refers to them
    conn.execute(webhook_events.insert(), [
        event("delivered-old", ago(30, 1)), event("failed-31", ago(31)), event("pending-old", ago(200)),
        event("orphan-old", ago(30, 1)), event("orphan-young", ago(30, -1))])
    conn.execute(stream_events.insert(), [
        {"event": "ringing", "call_id": "c", "sequence": n, "body": "{}", "created_at": at}
        for n, at in enumerate((ago(7, 2), ago(7, 1), ago(7, -1)))])
    conn.execute(audit.insert(), [
        {"at": at, "token_id": "crm", "action": "hangup", "status": 200} for at in (ago(365, 1), ago(365, -1))])


@pytest.fixture
def kept_dir(tmp_path):
    directory = tmp_path / "recordings"
    directory.mkdir()
    for name in ("old-record", "old-recording", "young-recording", "in-progress"):
        (directory / f"{call(name, 0)['call_id']}.wav").write_bytes(b"RIFF" + b"x" * 96)
    return directory


def retention(engine, write, kept_dir, limits=LIMITS, metrics=None, batch=2) -> Retention:
    recordings = Recordings(str(kept_dir), store=None, aris={})  # no Asterisk: the local copies alone
    return Retention(engine, write, limits, metrics or Metrics(), recordings.remove, batch=batch, pause=0)


async def left(engine) -> dict[str, list]:
    def read(conn: sa.Connection) -> dict[str, list]:
        def names(query):
            return sorted(str(v) for (v,) in conn.execute(query))
        return {
            "calls": names(sa.select(calls.c.customer_id)),
            "recordings_removed": names(sa.select(calls.c.customer_id).where(calls.c.recording_removed_at.is_not(None))),
            "requests": names(sa.select(call_requests.c.call_id)),
            "deliveries": names(sa.select(deliveries.c.id)),
            "attempts": names(sa.select(delivery_attempts.c.delivery_id)),
            "events": names(sa.select(webhook_events.c.id)),
            "stream": names(sa.select(stream_events.c.sequence)),
            "audit": names(sa.select(audit.c.at)),
        }
    async with engine.connect() as conn:
        return await conn.run_sync(read)


def sample(metrics: Metrics, name: str, kind: Kept) -> float:
    return metrics.registry.get_sample_value(name, {"kind": str(kind)}) or 0.0


async def test_each_kind_loses_exactly_what_is_older_than_its_limit(engine, kept_dir):
    async with engine.begin() as conn:
        await conn.run_sync(fill)
    write, metrics = GroupCommit(engine), Metrics()
    try:
        removed = await retention(engine, write, kept_dir, metrics=metrics).run_pass(NOW)
    finally:
        await write.close()
    assert await left(engine) == {
        "calls": ["in-progress", "old-recording", "young-record", "young-recording"],
        "recordings_removed": ["old-recording"],  # its record stays, marked
        "requests": [call("young-record", 0)["call_id"]],
        "deliveries": ["d-delivered-young", "d-failed-31", "d-failed-young", "d-pending-old"],
        "attempts": ["d-delivered-young", "d-pending-old"],
        # delivered-old's event: no delivery left; failed-31's and pending-old's: still referred to
        "events": ["e-failed-31", "e-orphan-young", "e-pending-old"],
        "stream": ["2"],
        "audit": [str(ago(365, -1))],
    }
    files = sorted(p.name for p in kept_dir.iterdir())
    assert files == sorted(f"{call(n, 0)['call_id']}.wav" for n in ("young-recording", "in-progress"))
    assert removed == {Kept.RECORDS: 6, Kept.RECORDINGS: 2, Kept.CALL_REQUESTS: 1, Kept.DELIVERED: 1,
                       Kept.FAILED: 1, Kept.ATTEMPTS: 3, Kept.WEBHOOK_EVENTS: 2, Kept.STREAM_EVENTS: 2, Kept.AUDIT: 1}
    for kind, rows in removed.items():  # the metrics say the same, with the bytes that went
        assert sample(metrics, "click2call_retention_removed_rows_total", kind) == rows
        assert (sample(metrics, "click2call_retention_removed_bytes_total", kind) > 0) == (rows > 0)
    assert sample(metrics, "click2call_retention_removed_bytes_total", Kept.RECORDINGS) == 2 * 100  # two files


async def test_kept_for_ever_by_default_but_the_outbox_the_stream_and_the_audit(engine, kept_dir):
    async with engine.begin() as conn:
        await conn.run_sync(fill)
    write = GroupCommit(engine)
    try:
        removed = await retention(engine, write, kept_dir, limits=RetentionDays()).run_pass(NOW)
    finally:
        await write.close()
    assert (removed[Kept.RECORDS], removed[Kept.RECORDINGS]) == (0, 0)
    assert len(list(kept_dir.iterdir())) == 4
    assert (removed[Kept.DELIVERED], removed[Kept.FAILED], removed[Kept.STREAM_EVENTS], removed[Kept.AUDIT]) == (
        1, 1, 2, 1)
    write = GroupCommit(engine)
    try:
        nothing = await retention(engine, write, kept_dir, limits=RetentionDays(
            delivered=0, failed=0, stream=0, audit=0)).run_pass(NOW + 1000 * DAY)
    finally:
        await write.close()
    assert not any(nothing.values())  # 0 days everywhere: nothing goes, however old


async def test_a_pass_after_a_restart_takes_only_what_aged_meanwhile(db_url, engine, kept_dir):
    async with engine.begin() as conn:
        await conn.run_sync(fill)
    write = GroupCommit(engine)
    first = await retention(engine, write, kept_dir).run_pass(NOW)
    await write.close()
    await engine.dispose()
    engine = await open_database(db_url)  # the service starts again
    write = GroupCommit(engine)
    try:
        before = await left(engine)
        again = await retention(engine, write, kept_dir).run_pass(NOW)
        assert not any(again.values()) and await left(engine) == before and any(first.values())
        later = await retention(engine, write, kept_dir).run_pass(NOW + 2 * MINUTE)  # two minutes on
        assert later == {**{k: 0 for k in Kept}, Kept.RECORDS: 1, Kept.CALL_REQUESTS: 1, Kept.RECORDINGS: 1,
                         Kept.DELIVERED: 1, Kept.FAILED: 1, Kept.ATTEMPTS: 1, Kept.WEBHOOK_EVENTS: 1,
                         Kept.STREAM_EVENTS: 1, Kept.AUDIT: 1}
        assert (await left(engine))["calls"] == ["in-progress", "old-recording", "young-recording"]
        assert (await left(engine))["recordings_removed"] == ["old-recording", "young-recording"]
    finally:
        await write.close()
        await engine.dispose()


async def test_two_replicas_passing_at_once_remove_and_count_each_row_once(pg_url, tmp_path):
    """Two replicas (each its engine, writer and metrics) on one PostgreSQL."""
    engines = [await open_database(pg_url) for _ in range(2)]
    async with engines[0].begin() as conn:
        await conn.execute(sa.text("TRUNCATE audit, stream_events, calls"))
        await conn.execute(audit.insert(), [{"at": ago(400), "token_id": "t", "action": "hangup", "status": 200}
                                            for _ in range(3000)])
        await conn.execute(stream_events.insert(), [{"event": "ringing", "body": "{}", "created_at": ago(8)}
                                                    for _ in range(3000)])
        await conn.execute(calls.insert(), [call(f"r{n}", ago(401)) for n in range(1000)])
    writes, metrics = [GroupCommit(e) for e in engines], [Metrics(), Metrics()]
    passes = [retention(e, w, tmp_path, metrics=m, batch=50) for e, w, m in zip(engines, writes, metrics)]
    try:
        results = await asyncio.gather(*(p.run_pass(NOW) for p in passes))
        done = [r for r in results if r is not None]
        for kind, count in ((Kept.AUDIT, 3000), (Kept.STREAM_EVENTS, 3000), (Kept.RECORDS, 1000)):
            assert sum(r[kind] for r in done) == count
            assert sum(sample(m, "click2call_retention_removed_rows_total", kind) for m in metrics) == count
        async with engines[1].connect() as conn:
            for table in (audit, stream_events, calls):
                assert (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one() == 0
        # While a replica holds the pass, another's turn is skipped and removes nothing.
        async with engines[0].begin() as conn:
            await conn.execute(audit.insert().values(at=ago(400), token_id="t", action="hangup", status=200))
        async with engines[0].connect() as holder:
            assert (await holder.execute(sa.select(sa.func.pg_try_advisory_lock(RETENTION_LOCK)))).scalar_one()
            await holder.commit()
            assert await passes[1].run_pass(NOW) is None
            await holder.execute(sa.select(sa.func.pg_advisory_unlock(RETENTION_LOCK)))
            await holder.commit()
        assert metrics[1].registry.get_sample_value("click2call_retention_passes_total", {"result": "skipped"}) >= 1
        assert (await passes[1].run_pass(NOW))[Kept.AUDIT] == 1
    finally:
        for w, e in zip(writes, engines):
            await w.close()
            await e.dispose()


def test_the_service_runs_retention_with_its_settings(tmp_path, monkeypatch):
    """The app's lifespan starts the task with the C2C_*_RETENTION_DAYS settings (its first pass made immediate)."""
    monkeypatch.setattr(retention_module, "FIRST", 0.0)
    url = f"sqlite:///{tmp_path}/calls.db"
    now = time.time()

    async def prepare():
        engine = await open_database(url)
        async with engine.begin() as conn:
            await conn.execute(stream_events.insert(), [
                {"event": "ringing", "call_id": name, "sequence": 1, "body": "{}", "created_at": now - days * DAY}
                for name, days in (("old", 2.01), ("young", 1.99))])
            await conn.execute(calls.insert(), [call("ancient", now - 1000 * DAY)])  # records: kept for ever
        await engine.dispose()
    asyncio.run(prepare())

    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))
    settings = Settings.from_env({
        "C2C_API_TOKENS": "retention-test-0123456789", "C2C_HOTLINES": "02873000001=trunk-a",
        "C2C_DATABASE_URL": url, "C2C_ARI_URL": f"http://127.0.0.1:{refusing.getsockname()[1]}",
        "C2C_ARI_PASSWORD": "x", "C2C_RECORDINGS_DIR": str(tmp_path / "rec"), "C2C_STREAM_RETENTION_DAYS": "2"})
    engine = sa.create_engine(url)
    try:
        with TestClient(create_app(settings)) as client:
            for _ in range(100):
                with engine.connect() as conn:
                    kept = sorted(conn.execute(sa.select(stream_events.c.call_id)).scalars())
                if kept == ["young"]:
                    break
                time.sleep(0.05)
            assert kept == ["young"]
            metrics = client.get("/metrics").text
            assert 'click2call_retention_removed_rows_total{kind="stream_events"} 1.0' in metrics
        with engine.connect() as conn:
            assert conn.execute(sa.select(calls.c.customer_id)).scalars().all() == ["ancient"]
    finally:
        engine.dispose()
        refusing.close()
