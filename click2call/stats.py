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

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .cdr import epoch, fmt_time, visible
from .db import calls
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
        n, status, inbound = r["n"], r["status"], r["direction"] == Direction.INBOUND
        sums["calls"] += n
        sums[STATUS_FIGURES[CallStatus(status)]] += n
        sums["inbound" if inbound else "outbound"] += n
        if inbound and status not in (CallStatus.ANSWERED, CallStatus.IN_PROGRESS):
            sums["missed_inbound"] += n
        if status == CallStatus.ANSWERED:
            sums["waits"] += r["waits"]
            sums["wait_total"] += (r["wait_in"] if inbound else r["wait_out"]) or 0
            sums["talk_total"] += r["talk"] or 0
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
    """The query of a request: its period, the size of its periods (None: grouped by a column) and the statement."""

    span: Period
    size: int | None
    statement: sa.Select


def plan(tenant: Tenant, query: StatsQuery, tz: ZoneInfo, dialect: str) -> Plan:
    """The statement for what `tenant` sees (refused: 403 for what it may not ask, 400 for a bad period)."""
    if query.group_by is StatsGroupBy.TENANT and not tenant.is_operator:
        raise ApiError("FORBIDDEN", "group_by=tenant is for the operator's tokens")
    if tenant.agent is not None and query.extension not in (None, tenant.agent):
        raise ApiError("AGENT_EXTENSION_ONLY", f"this agent token sees only extension {tenant.agent}'s calls")
    span = period(query, tz)
    c = calls.c
    where = [c.created_at >= span.start, c.created_at < span.end, *visible(tenant)]
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
    statement = sa.select(key.label("key"), c.status, c.direction, *_sums()).where(*where).group_by(
        key, c.status, c.direction)
    if query.extension is None and tenant.agent is None:
        # The period's range in the covering index. SQLite, without statistics of the real spread, would rather read
        # a tenant's or every extension's calls through their own index and fetch each row (ten times the cost);
        # one extension's calls are few, and its own index finds them.
        statement = statement.with_hint(calls, "INDEXED BY ix_calls_stats", dialect_name="sqlite")
    return Plan(span, size, statement)


async def compute(engine: AsyncEngine, tenant: Tenant, query: StatsQuery, tz: ZoneInfo) -> Stats:
    """GET /v1/stats: the figures of the calls `tenant` sees, per group, and in total. One query."""
    made = plan(tenant, query, tz, engine.dialect.name)
    async with engine.connect() as conn:
        found = _fold((await conn.execute(made.statement)).mappings())
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
