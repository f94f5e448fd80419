"""Call tallies: the calls of each UTC day that has ended, counted per tenant, status and duration band, so that a CDR
page's `total` over months (every ANSWERED call of the year, a tenant's year, all of it) is a sum of a few thousand
tallies rather than a count of hundreds of thousands of records. The total stays exact:

    total = the tallies of the counted days wholly inside the range
          + a count of the records in the rest of the range (its first and last part days, today, any day not counted)
          + with a min_duration between two bands' bounds, a count of the counted days' records in that part band

A day is counted (`count_days`, in the background) once it ended an hour ago and has no call in progress: its
records' status, duration and tenant no longer change, and no record is made in the past. Retention takes the
counts of the days it removes records from (`forget`), and they are counted again. Tallies are written beside the
records, never in a call's own writes.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .db import LIVE, GroupCommit, call_tallies, calls, tally_days

log = logging.getLogger(__name__)

DAY = 86400
SETTLED = 3600  # a day is counted once it ended this long ago (clocks of replicas differ by less)
# The lower bounds of the duration bands, in seconds: the min_duration values CRMs ask for fall on one, so their
# totals come from the tallies alone; any other is a band's tallies plus a count of one part band.
BANDS = (0, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 600, 900, 1200, 1800, 3600)
NO_DURATION = -1  # the band of a record without a duration
MOST_PARTS = 16  # more uncounted stretches than this in a range: the records are counted instead
EVERY = 600  # seconds between two passes of the background counting
FIRST = 20


def band_of(duration: int | None) -> int:
    return NO_DURATION if duration is None else bisect.bisect_right(BANDS, duration) - 1


def _band(duration: sa.ColumnElement) -> sa.ColumnElement:
    """band_of in SQL."""
    return sa.case(*[(duration >= low, i) for i, low in reversed(list(enumerate(BANDS)))], else_=NO_DURATION)


@dataclass(frozen=True)
class Countable:
    """A CDR total that tallies can serve: calls of a range, maybe of one tenant, one status, a least duration."""

    start: float | None = None  # created_at from (included)
    end: float | None = None  # to (excluded)
    tenant: str | None = None  # None: every tenant's (the operator)
    status: str | None = None
    min_duration: int | None = None

    def records(self, start: float | None, end: float | None) -> list[sa.ColumnElement]:
        """The records' conditions within [start, end)."""
        c = calls.c
        where = []
        if start is not None:
            where.append(c.created_at >= start)
        if end is not None:
            where.append(c.created_at < end)
        if self.tenant is not None:
            where.append(c.tenant == self.tenant)
        if self.status is not None:
            where.append(c.status == self.status)
        if self.min_duration is not None:
            where.append(c.duration >= self.min_duration)
        return where


async def total(conn: AsyncConnection, q: Countable) -> int:
    """The number of records `q` matches, exactly."""
    first = -math.inf if q.start is None else math.ceil(q.start / DAY)  # the whole days of the range
    after = math.inf if q.end is None else math.floor(q.end / DAY)
    days = sa.select(tally_days.c.day).order_by(tally_days.c.day)
    if q.start is not None:
        days = days.where(tally_days.c.day >= first)
    if q.end is not None:
        days = days.where(tally_days.c.day < after)
    counted = list((await conn.execute(days)).scalars())
    runs = consecutive(counted)
    gaps = _gaps(q.start, q.end, runs)
    if not runs or len(gaps) > MOST_PARTS:
        return await _count(conn, q.records(q.start, q.end))
    band = None
    if q.min_duration is not None:
        band = bisect.bisect_left(BANDS, q.min_duration)  # the first band wholly at or above it
    t = call_tallies.c
    tallied = sa.select(sa.func.coalesce(sa.func.sum(t.calls), 0)).where(t.day >= runs[0][0], t.day < runs[-1][1])
    if q.tenant is not None:
        tallied = tallied.where(t.tenant == q.tenant)
    if q.status is not None:
        tallied = tallied.where(t.status == q.status)
    parts = []
    if band is None:
        parts.append(tallied)
    elif band < len(BANDS):
        parts.append(tallied.where(t.band >= band))  # else no band lies wholly above: counted below
    for lo, hi in gaps:
        parts.append(_counting(q.records(lo, hi)))
    if q.min_duration is not None and (band == len(BANDS) or BANDS[band] != q.min_duration):
        # the part band [min_duration, next bound) of the counted days, from the duration index
        upper = [calls.c.duration < BANDS[band]] if band < len(BANDS) else []
        for lo, hi in runs:
            parts.append(_counting([*q.records(lo * DAY, hi * DAY), *upper]))
    statement = sa.select(sum((p.scalar_subquery() for p in parts[1:]), parts[0].scalar_subquery()))
    return int((await conn.execute(statement)).scalar_one())


def _counting(where: list) -> sa.Select:
    return sa.select(sa.func.count()).select_from(calls).where(*where)


async def _count(conn: AsyncConnection, where: list) -> int:
    return int((await conn.execute(_counting(where))).scalar_one())


def consecutive(days: list[int]) -> list[tuple[int, int]]:
    """Consecutive days as [first, after) runs."""
    found: list[tuple[int, int]] = []
    for d in days:
        if found and found[-1][1] == d:
            found[-1] = (found[-1][0], d + 1)
        else:
            found.append((d, d + 1))
    return found


Bound = float | None  # None: unbounded


def _gaps(start: Bound, end: Bound, runs: list[tuple[int, int]]) -> list[tuple[Bound, Bound]]:
    """The parts of [start, end) outside the runs."""
    gaps: list[tuple[Bound, Bound]] = []
    at = start
    for lo, hi in runs:
        if at is None or at < lo * DAY:
            gaps.append((at, lo * DAY))
        at = hi * DAY
    if end is None or at is None or at < end:
        gaps.append((at, end))
    return gaps


def counting(within: tuple, tallied: sa.Insert, counted: sa.Insert) -> Callable[[sa.Connection], bool]:
    """The work that counts one day in one transaction, its tallies and its mark: nothing while a call started
    `within` the day's range is in progress (its status and duration may still change)."""
    def work(conn: sa.Connection) -> bool:
        if conn.execute(sa.select(calls.c.call_id).where(LIVE, *within).limit(1)).first() is not None:
            return False
        conn.execute(tallied)
        conn.execute(counted)
        return True

    return work


def forget(conn: sa.Connection, days: set[int]) -> None:
    """A counted day whose records change (retention removes some) is counted again later."""
    if days:
        conn.execute(call_tallies.delete().where(call_tallies.c.day.in_(sorted(days))))
        conn.execute(tally_days.delete().where(tally_days.c.day.in_(sorted(days))))


class DayCounter:
    """Counts, in the background, each day that has ended and is not counted yet: from the day of the oldest record
    on. Any replica may: two counting one day at once collide on its key, and one of them rolls back. A kind of day
    says which day a moment is in, which days are counted, when a day has ended, and how it is counted."""

    what = "days"

    def __init__(self, engine: AsyncEngine, write: GroupCommit) -> None:
        self.engine = engine
        self.write = write

    def day_of(self, at: float) -> int:
        raise NotImplementedError

    def counted(self, first: int) -> sa.Select:
        """The days counted already, from `first` on."""
        raise NotImplementedError

    def ended(self, day: int, now: float) -> bool:
        raise NotImplementedError

    def work(self, day: int, now: float) -> Callable[[sa.Connection], bool]:
        raise NotImplementedError

    async def run(self, every: float = EVERY, first: float = FIRST) -> None:
        """Pass after pass, for ever (cancel to stop)."""
        await asyncio.sleep(first)
        while True:
            try:
                await self.count_days()
            except Exception as exc:  # the database away, or another replica counting the same day
                log.warning("counting %s failed: %s: %s", self.what, type(exc).__name__, exc)
            await asyncio.sleep(every)

    async def count_days(self, now: float | None = None) -> int:
        """Count every day that has ended and is not counted yet; how many were."""
        now = time.time() if now is None else now
        async with self.engine.connect() as conn:
            oldest = (await conn.execute(sa.select(sa.func.min(calls.c.created_at)))).scalar()
            if oldest is None:
                return 0
            day = self.day_of(oldest)
            done = set((await conn.execute(self.counted(day))).scalars())
        count = 0
        while self.ended(day, now):
            if day not in done and await self.write(self.work(day, now)):
                count += 1
            day += 1
        return count


class Tallies(DayCounter):
    """The CDR totals' tallies: per UTC day, tenant, status and duration band."""

    what = "calls per day"

    def day_of(self, at: float) -> int:
        return math.floor(at / DAY)

    def counted(self, first: int) -> sa.Select:
        return sa.select(tally_days.c.day).where(tally_days.c.day >= first)

    def ended(self, day: int, now: float) -> bool:
        return (day + 1) * DAY <= now - SETTLED

    def work(self, day: int, now: float) -> Callable[[sa.Connection], bool]:
        c = calls.c
        within = (c.created_at >= day * DAY, c.created_at < (day + 1) * DAY)
        band = _band(c.duration)
        tenant = sa.func.coalesce(c.tenant, sa.literal(""))
        grouped = sa.select(sa.literal(day), tenant, c.status, band, sa.func.count()).where(*within).group_by(
            tenant, c.status, band)
        return counting(within, call_tallies.insert().from_select(["day", "tenant", "status", "band", "calls"],
                                                                  grouped),
                        tally_days.insert().values(day=day, counted_at=now))
