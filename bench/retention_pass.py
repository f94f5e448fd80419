"""A retention pass beside the calls' writes: fill a database with a backlog past its limits (webhook deliveries with
two attempts each and their events, stream events, audit entries), then run one pass while a writer keeps committing
small writes through the same GroupCommit as call records do (one every 5 ms), and print how long the pass took, what
it removed, and the writes' latency during it against the same writes alone.

    uv run python -m bench.retention_pass 100000                          # SQLite file
    uv run python -m bench.retention_pass 100000 postgresql://...         # an empty PostgreSQL database

Not part of the test suite (timed, machine-dependent); README "Retention" has the last figures."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time

import sqlalchemy as sa

from click2call.db import (
    GroupCommit, audit, deliveries, delivery_attempts, open_database, stream_events, webhook_events,
)
from click2call.metrics import Metrics
from click2call.retention import DAY, Retention, RetentionDays

OLD = time.time() - 400 * DAY


async def fill(engine, count: int) -> None:
    for first in range(0, count, 10_000):
        ids = range(first, min(count, first + 10_000))
        async with engine.begin() as conn:
            await conn.execute(webhook_events.insert(), [
                {"id": f"e{n}", "call_id": f"c{n}", "sequence": 1, "event": "hangup", "body": '{"x":' + "1" * 300 + "}",
                 "created_at": OLD} for n in ids])
            await conn.execute(deliveries.insert(), [
                {"id": f"d{n}", "event_id": f"e{n}", "hook_id": "default", "call_id": f"c{n}", "sequence": 1,
                 "status": "delivered", "attempts": 2, "next_attempt_at": OLD, "created_at": OLD} for n in ids])
            await conn.execute(delivery_attempts.insert(), [
                {"delivery_id": f"d{n}", "attempted_at": OLD, "status_code": 200, "duration_ms": 5}
                for n in ids for _ in range(2)])
            await conn.execute(stream_events.insert(), [
                {"event": "ringing", "call_id": f"c{n}", "sequence": 1, "body": "{}" * 100, "created_at": OLD}
                for n in ids])
            await conn.execute(audit.insert(), [
                {"at": OLD, "token_id": "crm", "action": "hangup", "status": 200} for _ in ids])


async def writes(write: GroupCommit, stop: asyncio.Event) -> list[float]:
    """Small durable writes, one every 5 ms, as calls make them: each one's latency (ms)."""
    latencies = []
    while not stop.is_set():
        started = time.perf_counter()
        await write(lambda conn: conn.execute(audit.insert().values(at=time.time(), token_id="w", action="mute",
                                                                     status=200)))
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.005)
    return latencies


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    return (f"n={len(ms)} p50={statistics.median(ms):.2f}ms p99={ms[int(len(ms) * 0.99)]:.2f}ms "
            f"max={ms[-1]:.2f}ms")


async def main(count: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = await open_database(url or f"sqlite:///{tmp}/calls.db")
        await fill(engine, count)
        write = GroupCommit(engine)
        stop = asyncio.Event()
        alone = asyncio.create_task(writes(write, stop))
        await asyncio.sleep(3)
        stop.set()
        baseline = await alone
        stop = asyncio.Event()
        beside = asyncio.create_task(writes(write, stop))
        days = RetentionDays(records=0, recordings=0, delivered=30, failed=90, stream=7, audit=365)

        async def nothing(call_id, node) -> int:
            return 0
        started = time.perf_counter()
        removed = await Retention(engine, write, days, Metrics(), nothing).run_pass()
        took = time.perf_counter() - started
        stop.set()
        during = await beside
        await write.close()
        await engine.dispose()
    total = sum(removed.values())
    print(f"{engine.dialect.name}: removed {total} rows in {took:.1f} s ({total / took:.0f} rows/s): "
          + ", ".join(f"{k}={v}" for k, v in removed.items() if v))
    print(f"  writes alone:         {summary(baseline)}")
    print(f"  writes during a pass: {summary(during)}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, sys.argv[2] if len(sys.argv) > 2 else None))
