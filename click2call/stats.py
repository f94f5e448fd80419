"""Call statistics (GET /v1/stats): figures per period (hour, day), hotline, extension or tenant, computed in SQL with
one GROUP BY over the calls started in the period (a range on created_at first, so that the index leads), never by
loading records. The same query on SQLite and PostgreSQL.

What the figures count (the README says it for users):
- a call belongs to the period, and to the hour or day, in which it started (created_at);
- `calls` counts every call, `in_progress` those not ended yet; the status counts, the answer rate, wait and talk
  count ended calls only (a call in progress has no outcome yet);
- answer rate: ANSWERED / ended calls;
- wait (time to answer) of an answered call: inbound, from the call's arrival (created_at) to its answer by an agent
  (answered_at: the caller's channel is answered only then); outbound, from the moment the customer's number is
  dialled (customer_created_at) to the customer's answer (answered_at): the agent's own pick-up is not the customer's
  wait. Averages are over answered calls;
- talk: billsec (from the customer's answer to the end) of answered calls;
- missed inbound: inbound calls ended with any status but ANSWERED.

Hours and days are those of C2C_TIMEZONE, while records hold epoch seconds. A call's local time is created_at plus
the zone's UTC offset at that moment; over a range the offset is constant between the zone's transitions, which are
found here (in Python, with zoneinfo) and written into the query as a CASE on created_at (one constant for a zone
without DST, such as Asia/Ho_Chi_Minh). The local hour or day is then floor(local / 3600 or 86400): plain arithmetic
both databases do alike. On a DST zone's fall-back night the repeated local hour is one bucket (two real hours); the
local hour skipped in spring is not listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from . import tallies
from .cdr import epoch, fmt_time, visible
from .db import GroupCommit, calls, stat_days, stat_tallies
from .errors import ApiError
from .schema.stats import Stats, StatsFigures, StatsGroup, StatsQuery
from .states import CallStatus, Direction, StatsGroupBy
from .tenants import Tenant

MAX_DAYS = 366  # a year, a leap one too
MAX_HOUR_DAYS = 31  # hour by hour: a month at most (744 periods)
SIZE = {StatsGroupBy.HOUR: 3600, StatsGroupBy.DAY: 86400}
STATUS_FIGURES = {CallStatus.ANSWERED: "answered", CallStatus.NO_ANSWER: "no_answer", CallStatus.BUSY: "busy",
                  CallStatus.FAILED: "failed", CallStatus.CANCELLED: "cancelled",
                  CallStatus.IN_PROGRESS: "in_progress"}
# What the query sums per group; the figures are made from these (and the total from the groups' sums).
SUMS = ("calls", *STATUS_FIGURES.values(), "inbound", "outbound", "missed_inbound", "waits", "wait_total",
        "talk_total")


@dataclass(frozen=True)
class Period:
    start: float  # epoch seconds, included
    end: float  # excluded
    offsets: tuple[tuple[int, int], ...]  # (from this epoch second, the zone's UTC offset in seconds), in order


def _offset(tz: ZoneInfo, at: float) -> int:
    return int(datetime.fromtimestamp(at, tz).utcoffset().total_seconds())


def offsets(tz: ZoneInfo, start: float, end: float) -> tuple[tuple[int, int], ...]:
    """The zone's UTC offset over [start, end): the first from `start`, then one at each transition. Transitions
    are months apart: sampled daily, each found to the second by bisection."""
    found = [(int(start), _offset(tz, start))]
    step = 86400
    at = int(start)
    while at < end:
        nxt = min(at + step, int(end) + 1)
        if _offset(tz, nxt) != found[-1][1]:
            low, high = at, nxt  # offset(low) is the current one, offset(high) the next
            while high - low > 1:
                mid = (low + high) // 2
                low, high = (mid, high) if _offset(tz, mid) == found[-1][1] else (low, mid)
            found.append((high, _offset(tz, high)))
        at = nxt
    return tuple(found)


def period(query: StatsQuery, tz: ZoneInfo) -> Period:
    """The query's range as epoch seconds, refused (400) when empty or too long."""
    start, end = epoch(query.from_, tz, end=False), epoch(query.to, tz, end=True)
    if end <= start:
        raise ApiError("INVALID_PARAMETER", "from must be before to")
    most = MAX_HOUR_DAYS if query.group_by is StatsGroupBy.HOUR else MAX_DAYS
    local = [datetime.fromtimestamp(t, tz).replace(tzinfo=None) for t in (start, end)]
    if local[1] - local[0] > timedelta(days=most):
        grouping = " with group_by=hour" if query.group_by is StatsGroupBy.HOUR else ""
        raise ApiError("INVALID_PARAMETER", f"from and to may be at most {most} days apart{grouping}")
    return Period(start, end, offsets(tz, start, end))


def _number(value: int) -> sa.ColumnElement:
    # Numbers we computed (offsets, transition times), written into the SQL: the bucket is then the same expression
    # in SELECT and GROUP BY (PostgreSQL compares them as text; bound parameters would differ).
    return sa.literal_column(str(int(value)))


def _bucket(size: int, zone: tuple[tuple[int, int], ...], dialect: str) -> sa.ColumnElement:
    """The local hour or day of created_at, as a whole number of `size` seconds since 1970-01-01 00:00 local."""
    c = calls.c
    if len(zone) == 1:
        offset = _number(zone[0][1])
    else:
        offset = sa.case(*[(c.created_at < _number(until), _number(off))
                           for (_, off), (until, _) in zip(zone, zone[1:])], else_=_number(zone[-1][1]))
    local = (c.created_at + offset) / _number(size)
    if dialect == "postgresql":
        return sa.cast(sa.func.floor(local), sa.BigInteger)
    return sa.cast(local, sa.Integer)  # SQLite truncates toward zero: the floor, for times after 1970


def _sums() -> list[sa.ColumnElement]:
    """What the query sums per group of (key, status, direction): the figures are folded from these in Python
    (a few rows per period), so that each record costs the database a handful of plain sums, not a CASE per figure."""
    c = calls.c
    return [
        sa.func.count().label("n"),
        sa.func.count(c.answered_at).label("waits"),
        # wait: inbound from the arrival, outbound from the customer's dialling (its group says which applies)
        sa.func.sum(c.answered_at - c.created_at).label("wait_in"),
        sa.func.sum(c.answered_at - sa.func.coalesce(c.customer_created_at, c.created_at)).label("wait_out"),
        sa.func.sum(c.billsec).label("talk"),
    ]


def _fold(rows) -> dict:
    """The SUMS of each key from the query's (key, status, direction) rows."""
    found: dict = {}
    for r in rows:
        sums = found.setdefault(r["key"], dict.fromkeys(SUMS, 0))
        # (PostgreSQL sums the days' integer sums as numeric: Decimal)
        n, status, inbound = int(r["n"]), r["status"], r["direction"] == Direction.INBOUND
        sums["calls"] += n
        sums[STATUS_FIGURES[CallStatus(status)]] += n
        sums["inbound" if inbound else "outbound"] += n
        if inbound and status not in (CallStatus.ANSWERED, CallStatus.IN_PROGRESS):
            sums["missed_inbound"] += n
        if status == CallStatus.ANSWERED:
            sums["waits"] += int(r["waits"])
            sums["wait_total"] += float((r["wait_in"] if inbound else r["wait_out"]) or 0)
            sums["talk_total"] += int(r["talk"] or 0)
    return found


def figures(sums: dict) -> StatsFigures:
    """The figures of a group from its sums."""
    ended = sums["calls"] - sums["in_progress"]
    answered = sums["answered"]
    return StatsFigures(
        calls=sums["calls"], **{name: sums[name] for name in STATUS_FIGURES.values()},
        inbound=sums["inbound"], outbound=sums["outbound"], missed_inbound=sums["missed_inbound"],
        answer_rate=round(answered / ended, 4) if ended else None,
        wait_total=round(sums["wait_total"], 1),
        wait_avg=round(sums["wait_total"] / sums["waits"], 1) if sums["waits"] else None,
        talk_total=sums["talk_total"],
        talk_avg=round(sums["talk_total"] / answered, 1) if answered else None,
    )


QUARTER = 900  # every zone's offsets and changes since 1970 fall on quarter hours


def periods(size: int, start: float, end: float, tz: ZoneInfo) -> list[int]:
    """Every local hour or day (as _bucket numbers them) that the range touches. An hour is listed when some moment
    of it exists: one that the zone skips whole (spring forward) is left out, one it skips half of (Lord Howe's half
    hour) is kept."""
    first = _local_number(start, size, tz)
    last = _local_number(end - 1e-6, size, tz)
    if size != 3600:
        return list(range(first, last + 1))
    lived = {_local_number(t, size, tz) for t in range(int(start), int(end), QUARTER)}
    return sorted(lived | {first, last})


def _local_number(at: float, size: int, tz: ZoneInfo) -> int:
    return int((at + _offset(tz, at)) // size)


def _label(number: int, size: int) -> str:
    start = datetime(1970, 1, 1) + timedelta(seconds=number * size)
    return start.strftime("%Y-%m-%d") if size == 86400 else start.strftime("%Y-%m-%d %H:00:00")


@dataclass(frozen=True)
class Plan:
    """The query of a request: its period, the size of its periods (None: grouped by a column), what it groups by and
    filters on besides the period, and whether the days' sums (stat_tallies) can stand for the records."""

    span: Period
    size: int | None
    key: sa.ColumnElement
    where: list
    covering: bool  # read the period from ix_calls_stats
    daily: bool
    tally_key: sa.ColumnElement | None = None
    tally_where: tuple = ()

    def between(self, start: float, end: float) -> sa.Select:
        """The statement over the records started in [start, end)."""
        c = calls.c
        statement = sa.select(self.key.label("key"), c.status, c.direction, *_sums()).where(
            c.created_at >= start, c.created_at < end, *self.where).group_by(self.key, c.status, c.direction)
        if self.covering:
            # The period's range in the covering index. SQLite, without statistics of the real spread, would rather
            # read a tenant's or every extension's calls through their own index and fetch each row (ten times the
            # cost); one extension's calls are few, and its own index finds them.
            statement = statement.with_hint(calls, "INDEXED BY ix_calls_stats", dialect_name="sqlite")
        return statement

    @property
    def statement(self) -> sa.Select:
        return self.between(self.span.start, self.span.end)

    def tallied(self, zone: str, first: int, after: int) -> sa.Select:
        """The same groups from the sums of the counted days [first, after)."""
        t = stat_tallies.c
        return sa.select(self.tally_key.label("key"), t.status, t.direction, sa.func.sum(t.calls).label("n"),
                         sa.func.sum(t.waits).label("waits"), sa.func.sum(t.wait_in).label("wait_in"),
                         sa.func.sum(t.wait_out).label("wait_out"), sa.func.sum(t.talk).label("talk")).where(
            t.zone == zone, t.day >= first, t.day < after, *self.tally_where).group_by(
            self.tally_key, t.status, t.direction)


def plan(tenant: Tenant, query: StatsQuery, tz: ZoneInfo, dialect: str) -> Plan:
    """The statement for what `tenant` sees (refused: 403 for what it may not ask, 400 for a bad period)."""
    if query.group_by is StatsGroupBy.TENANT and not tenant.is_operator:
        raise ApiError("FORBIDDEN", "group_by=tenant is for the operator's tokens")
    if tenant.agent is not None and query.extension not in (None, tenant.agent):
        raise ApiError("AGENT_EXTENSION_ONLY", f"this agent token sees only extension {tenant.agent}'s calls")
    span = period(query, tz)
    c = calls.c
    where = visible(tenant)
    for name in ("direction", "hotline", "extension", "ring_group"):
        if (value := getattr(query, name)) is not None:
            where.append(c[name] == str(value))
    size = SIZE.get(query.group_by)
    if size is not None:
        key = _bucket(size, span.offsets, dialect)
    elif query.group_by is StatsGroupBy.TENANT:
        key = sa.func.coalesce(c.tenant, sa.literal_column("''"))
    else:
        key = c[str(query.group_by)]
    covering = query.extension is None and tenant.agent is None
    # The days' sums hold tenant, direction and status: they serve days and tenants, not hours, hotlines or agents.
    daily = (query.group_by in (StatsGroupBy.DAY, StatsGroupBy.TENANT) and covering and query.hotline is None
             and query.ring_group is None and _plain_midnights(span.offsets))
    if not daily:
        return Plan(span, size, key, where, covering, False)
    t = stat_tallies.c
    tally_where = [t.tenant == tenant.name] if not tenant.is_operator else []
    if query.direction is not None:
        tally_where.append(t.direction == str(query.direction))
    return Plan(span, size, key, where, covering, True, t.day if size else t.tenant, tuple(tally_where))


def _plain_midnights(zone: tuple[tuple[int, int], ...]) -> bool:
    """No change of the zone's offset in the range skips or repeats a local midnight: each local day then starts at
    its midnight, as datetime finds it (a zone that changes at midnight, as some have, is read from the records)."""
    for (_, before), (at, after) in zip(zone, zone[1:]):
        low, high = sorted((at + before, at + after))
        if low // 86400 != high // 86400 or high % 86400 == 0:
            return False
    return True


def _midnight(day: int, tz: ZoneInfo) -> float:
    return datetime.combine(date(1970, 1, 1) + timedelta(days=day), time(), tz).timestamp()


async def _rows(conn, made: Plan, tz: ZoneInfo) -> list:
    """The (key, status, direction) sums of the period: of its counted days from their sums, of the rest from the
    records."""
    span = made.span
    ranges = [(span.start, span.end)]
    rows: list = []
    if made.daily:
        first = _local_number(span.start, 86400, tz)
        first += _midnight(first, tz) < span.start  # the first whole day
        after = _local_number(span.end, 86400, tz)
        counted = list((await conn.execute(sa.select(stat_days.c.day).where(
            stat_days.c.zone == tz.key, stat_days.c.day >= first, stat_days.c.day < after).order_by(
            stat_days.c.day))).scalars())
        runs = tallies.consecutive(counted)
        if runs and len(runs) <= tallies.MOST_PARTS:
            rows += (await conn.execute(made.tallied(tz.key, runs[0][0], runs[-1][1]))).mappings().all()
            edges = [span.start, *(_midnight(d, tz) for run in runs for d in run), span.end]
            ranges = [(lo, hi) for lo, hi in zip(edges[::2], edges[1::2]) if lo < hi]
    for lo, hi in ranges:
        rows += (await conn.execute(made.between(lo, hi))).mappings().all()
    return rows


async def compute(engine: AsyncEngine, tenant: Tenant, query: StatsQuery, tz: ZoneInfo) -> Stats:
    """GET /v1/stats: the figures of the calls `tenant` sees, per group, and in total."""
    made = plan(tenant, query, tz, engine.dialect.name)
    async with engine.connect() as conn:
        found = _fold(await _rows(conn, made, tz))
    zero = dict.fromkeys(SUMS, 0)
    span, size = made.span, made.size
    if size is not None:
        numbers = sorted(set(periods(size, span.start, span.end, tz)) | set(found))
        data = [StatsGroup(key=_label(n, size), **figures(found.get(n, zero))) for n in numbers]
    else:
        data = [StatsGroup(key=k, **figures(found[k])) for k in sorted(found)]
    total = {name: sum(g[name] for g in found.values()) for name in SUMS}
    return {"status": "success", "from": fmt_time(span.start, tz), "to": fmt_time(span.end, tz),
            "timezone": str(tz.key), "group_by": query.group_by, "total": figures(total), "data": data}


# ---------------------------------------------------------------- the days' sums, counted in the background

WIDEST = 14 * 3600  # no zone is further from UTC: a local day's calls started within a day of UTC and 14 hours


def forget(conn: sa.Connection, utc_days: set[int]) -> None:
    """Records removed from these UTC days: the local days they may belong to, in any zone, are summed again."""
    days = sorted({d + shift for d in utc_days for shift in (-1, 0, 1)})
    if days:
        conn.execute(stat_tallies.delete().where(stat_tallies.c.day.in_(days)))
        conn.execute(stat_days.delete().where(stat_days.c.day.in_(days)))


class DaySums(tallies.DayCounter):
    """The statistics' sums of each local day of the service's zone, per tenant, direction and status."""

    what = "statistics per day"

    def __init__(self, engine: AsyncEngine, write: GroupCommit, tz: ZoneInfo) -> None:
        super().__init__(engine, write)
        self.tz = tz

    def day_of(self, at: float) -> int:
        return _local_number(at, 86400, self.tz)

    def counted(self, first: int) -> sa.Select:
        return sa.select(stat_days.c.day).where(stat_days.c.zone == self.tz.key, stat_days.c.day >= first)

    def ended(self, day: int, now: float) -> bool:
        return (day + 1) * 86400 + WIDEST <= now - tallies.SETTLED

    def work(self, day: int, now: float) -> Callable[[sa.Connection], bool]:
        """The day's calls are those _bucket puts in it, the records' own reading; any call that may be the day's
        and is in progress holds the day back."""
        lo, hi = day * 86400 - WIDEST, (day + 1) * 86400 + WIDEST
        c = calls.c
        within = (c.created_at >= lo, c.created_at < hi)
        tenant = sa.func.coalesce(c.tenant, sa.literal_column("''"))
        grouped = sa.select(sa.literal(day), sa.literal(self.tz.key), tenant, c.direction, c.status, *_sums()).where(
            *within, _bucket(86400, offsets(self.tz, lo, hi), self.engine.dialect.name) == day).group_by(
            tenant, c.direction, c.status)
        return tallies.counting(within, stat_tallies.insert().from_select(
            ["day", "zone", "tenant", "direction", "status", "calls", "waits", "wait_in", "wait_out", "talk"],
            grouped), stat_days.insert().values(day=day, zone=self.tz.key, counted_at=now))
