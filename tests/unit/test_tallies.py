"""Call tallies (tallies.py) on a real SQLite file and a real PostgreSQL: a CDR total counted from the tallies equals a
plain count of the records, for generated records over three weeks (three tenants and none, every status, durations
on, between and beyond the bands' bounds, none) and for every kind of range (open, whole days, part days, within a
day, today); a day with a call in progress is left to the records until the call ends; retention removing records
makes their days counted again; the CDR API answers the same totals as before."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from click2call import stats, tallies, validation
from click2call.db import GroupCommit, call_tallies, calls, tally_days
from click2call.metrics import Metrics
from click2call.records import CallStore
from click2call.schema.cdr import CdrFilters
from click2call.schema.stats import StatsQuery
from click2call.service import RecordsService
from click2call.tenants import Tenant
from click2call.retention import Retention, RetentionDays
from click2call.tallies import BANDS, DAY, Countable, Tallies

UTC = ZoneInfo("UTC")
NOW = 1_795_000_000.0  # 2026-11-18 07:06 UTC
TENANTS = ["acme", "acme", "beta", None]
STATUSES = ["ANSWERED", "ANSWERED", "NO_ANSWER", "BUSY", "FAILED", "CANCELLED"]


def records(seed: int, days: int = 21, n: int = 900) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        created = round(rnd.uniform(NOW - days * DAY, NOW), 3)
        if i < 6:
            created = float((int(NOW // DAY) - i) * DAY)  # exactly at midnight: a day's first moment
        status = rnd.choice(STATUSES)
        duration = rnd.choice([None, 0, 5, 29, 30, 31, 59, 60, 299, 300, 3599, 3600, 7200, rnd.randrange(0, 4000)])
        rows.append(dict(
            call_id=str(uuid.UUID(int=rnd.getrandbits(128))), direction="outbound", extension="101",
            phone="0899098899", hotline="02873000001", trunk="trunk-a", status=status, phase="ended", phase_rank=9,
            created_at=created, updated_at=created, tenant=rnd.choice(TENANTS), duration=duration))
    return rows


def expected(rows: list[dict], q: Countable) -> int:
    return sum(1 for r in rows
               if (q.start is None or r["created_at"] >= q.start) and (q.end is None or r["created_at"] < q.end)
               and (q.tenant is None or r["tenant"] == q.tenant) and (q.status is None or r["status"] == q.status)
               and (q.min_duration is None or (r["duration"] is not None and r["duration"] >= q.min_duration)))


def queries(seed: int) -> list[Countable]:
    rnd = random.Random(seed)
    today = int(NOW // DAY) * DAY
    found = [Countable(), Countable(status="ANSWERED", min_duration=30), Countable(tenant="acme"),
             Countable(start=today - 7 * DAY, end=today), Countable(start=today - 3 * DAY + 1, end=NOW),
             Countable(start=today - 2 * DAY + 3600, end=today - 2 * DAY + 7200), Countable(start=today),
             Countable(end=today - 10 * DAY + 0.5), Countable(min_duration=4000), Countable(min_duration=3600),
             Countable(min_duration=0)]
    for _ in range(120):
        start = rnd.choice([None, today - rnd.randrange(0, 25) * DAY, round(rnd.uniform(NOW - 25 * DAY, NOW), 3)])
        end = rnd.choice([None, today - rnd.randrange(-1, 20) * DAY, round(rnd.uniform(NOW - 25 * DAY, NOW), 3)])
        found.append(Countable(start=start, end=end, tenant=rnd.choice([None, "acme", "beta", "nobody"]),
                               status=rnd.choice([None, *STATUSES, "IN_PROGRESS"]),
                               min_duration=rnd.choice([None, 0, 1, 30, 31, 60, 61, 299, 3600, 3601, *BANDS])))
    return found


async def check(engine, rows: list[dict], seed: int) -> None:
    async with engine.connect() as conn:
        for q in queries(seed):
            assert await tallies.total(conn, q) == expected(rows, q), q


@pytest.fixture
async def write(engine):
    yield GroupCommit(engine)


async def test_totals_from_tallies_equal_counts_of_the_records(engine, write):
    rows = records(1)
    async with engine.begin() as conn:
        await conn.execute(calls.insert(), rows)
    counted = await Tallies(engine, write).count_days(now=NOW)
    assert counted == 21  # each ended day of the three weeks (today has not ended)
    async with engine.connect() as conn:
        days = set((await conn.execute(sa.select(tally_days.c.day))).scalars())
        tallied = (await conn.execute(sa.select(sa.func.sum(call_tallies.c.calls)))).scalar()
    assert int(NOW // DAY) not in days and int(NOW // DAY) - 1 in days
    assert tallied == sum(1 for r in rows if r["created_at"] < int(NOW // DAY) * DAY)
    await check(engine, rows, seed=2)
    assert await Tallies(engine, write).count_days(now=NOW) == 0  # nothing counted twice


async def test_a_day_with_a_call_in_progress_is_counted_once_the_call_ends(engine, write):
    rows = records(3, days=4, n=200)
    live = dict(rows[-1], call_id="live", status="IN_PROGRESS", duration=None,
                created_at=(int(NOW // DAY) - 2) * DAY + 100)
    async with engine.begin() as conn:
        await conn.execute(calls.insert(), [*rows, live])
    ended = int(NOW // DAY) - int(min(r["created_at"] for r in rows) // DAY)
    assert await Tallies(engine, write).count_days(now=NOW) == ended - 1  # all but the one with a call in progress
    await check(engine, [*rows, live], seed=4)
    async with engine.begin() as conn:
        await conn.execute(calls.update().where(calls.c.call_id == "live").values(status="ANSWERED", duration=42))
    assert await Tallies(engine, write).count_days(now=NOW) == 1
    await check(engine, [*rows, dict(live, status="ANSWERED", duration=42)], seed=5)


async def test_a_day_is_counted_an_hour_after_it_ended(engine, write):
    midnight = int(NOW // DAY) * DAY
    async with engine.begin() as conn:
        await conn.execute(calls.insert(), [dict(records(6, n=1)[0], created_at=midnight - 10)])
    assert await Tallies(engine, write).count_days(now=midnight + 3500) == 0
    assert await Tallies(engine, write).count_days(now=midnight + 3700) == 1


async def test_records_removed_by_retention_leave_exact_totals(engine, write, tmp_path):
    rows = records(7)
    async with engine.begin() as conn:
        await conn.execute(calls.insert(), rows)
    await Tallies(engine, write).count_days(now=NOW)
    assert await stats.DaySums(engine, write, UTC).count_days(now=NOW) >= 20
    keep = RetentionDays(records=10, recordings=0, delivered=0, failed=0, stream=0, audit=0)
    removed = await Retention(engine, write, keep, Metrics(), remove_recording=None, batch=50, pause=0).run_pass(NOW)
    left = [r for r in rows if r["created_at"] >= NOW - 10 * DAY]
    assert sum(removed.values()) == len(rows) - len(left)
    await check(engine, left, seed=8)  # the day cut in two is counted from its records again
    assert await Tallies(engine, write).count_days(now=NOW) == 1  # ... and tallied again in the next pass
    await check(engine, left, seed=9)
    # the statistics' day sums too: the days around the cut are summed again from what is left
    first = datetime.fromtimestamp(NOW - 20 * DAY, UTC).date()
    ask = validation.parse(StatsQuery, {"from": str(first), "to": str(first + timedelta(days=18))})
    figures = await stats.compute(engine, Tenant(None, ()), ask, UTC)
    until = datetime.combine(first + timedelta(days=19), datetime.min.time(), UTC).timestamp()
    assert figures["total"]["calls"] == sum(1 for r in left if r["created_at"] < until)
    assert await stats.DaySums(engine, write, UTC).count_days(now=NOW) >= 1
    assert (await stats.compute(engine, Tenant(None, ()), ask, UTC))["total"] == figures["total"]


def test_band_of_a_duration():
    assert [tallies.band_of(d) for d in (None, 0, 4, 5, 29, 30, 3599, 3600, 10**6)] == [
        -1, 0, 0, 1, 4, 5, len(BANDS) - 2, len(BANDS) - 1, len(BANDS) - 1]


async def test_the_cdr_api_answers_the_same_totals_with_tallies(engine, write):
    """Through the CDR API's own service: the operator, a tenant and an agent token, with the filters tallies serve
    and ones they do not, give the totals counted here."""
    rows = records(10)
    for i, r in enumerate(rows):
        r["extension"] = ["101", "102"][i % 2]
    async with engine.begin() as conn:
        await conn.execute(calls.insert(), rows)
    await Tallies(engine, write).count_days(now=NOW)
    service = RecordsService(UTC, CallStore(engine, write=write), replica=None)
    today = datetime.fromtimestamp(NOW, UTC).date()
    asks = [{}, {"status": "ANSWERED", "min_duration": "30"}, {"min_duration": "31"},
            {"start_date": str(today - timedelta(days=9)), "end_date": str(today - timedelta(days=2))},
            {"start_date": str(today - timedelta(days=15)), "status": "BUSY"}, {"extension": "101"},
            {"hotline": "02873000001", "min_duration": "45"}]
    for who in (Tenant(None, ()), Tenant("acme", ()), Tenant("acme", (), agent="102")):
        for ask in asks:
            page = await service.cdr_list(validation.parse(CdrFilters, {**ask, "page": "1"}), who)
            q = Countable(start=None, end=None, tenant=who.name, status=ask.get("status"),
                          min_duration=int(ask["min_duration"]) if "min_duration" in ask else None)
            if "start_date" in ask:
                q = replace(q, start=datetime.fromisoformat(ask["start_date"]).replace(tzinfo=UTC).timestamp())
            if "end_date" in ask:
                q = replace(q, end=(datetime.fromisoformat(ask["end_date"]).replace(tzinfo=UTC)
                                    + timedelta(days=1)).timestamp())
            mine = [r for r in rows if (who.agent is None or r["extension"] == who.agent)
                    and ask.get("extension", r["extension"]) == r["extension"]]
            assert page["total"] == expected(mine, q), (who, ask)
