"""Call statistics as the API speaks them (GET /v1/stats): the query (a period, a grouping, filters) and the figures
of each group. What each figure counts is defined once, in click2call/stats.py (and the README)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from ..states import Direction, StatsGroupBy
from . import fields
from .cdr import Time, moment
from .fields import Extension, Phone, refuse
from .query import Query
from .tenants_file import NAME_RE


def _choice(enum: type, value: Any, name: str) -> Any:
    message = f"{name} must be one of {', '.join(enum)}"
    text = fields.string(value, message).lower()
    if text not in set(enum):
        refuse(message)
    return enum(text)


MOMENT_SCHEMA = {"type": "string", "description": "YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"}
# `from` is a Python keyword: the field is from_, its messages name the parameter.
From = fields.field(lambda v, _: moment(v, "from"), MOMENT_SCHEMA, date | datetime)
To = fields.field(lambda v, _: moment(v, "to"), MOMENT_SCHEMA, date | datetime)
GroupBy = fields.field(lambda v, n: _choice(StatsGroupBy, v, n), {"type": "string", "enum": list(StatsGroupBy)},
                       StatsGroupBy)
DirectionField = fields.field(lambda v, n: _choice(Direction, v, n), {"type": "string", "enum": list(Direction)},
                              Direction)
RingGroup = fields.field(lambda v, n: fields.matching(NAME_RE, v, f"{n} must be 1-64 letters, digits, '.', '_' or '-'"),
                         fields.pattern(NAME_RE))


class StatsQuery(Query):
    """GET /v1/stats. Checked in the order of the fields; the period's bounds then by the statistics (stats.py)."""

    from_: From = Field(alias="from", description="from (a date: its start), in C2C_TIMEZONE")
    to: To = Field(description="until (a date: its end; a time: excluded), in C2C_TIMEZONE; at most 366 days after "
                               "from (31 with group_by=hour)")
    group_by: GroupBy = Field(StatsGroupBy.DAY, description="hour and day: every period of the range, with zeros "
                                                            "where no call was; tenant: the operator's tokens only")
    direction: DirectionField | None = None
    hotline: Phone | None = None
    extension: Extension | None = Field(None, description="the agent (an inbound call's: the one who answered)")
    ring_group: RingGroup | None = None


class StatsFigures(TypedDict):
    """The calls started in the period (created_at). `calls` counts them all, `in_progress` those not ended yet;
    the other figures count ended calls only. Times in seconds: `wait` is the time to the customer's answer (inbound:
    from the call's arrival; outbound: from the moment the customer's number is dialled), `talk` the billsec of
    answered calls; averages over answered calls (null with none). `answer_rate`: answered / ended calls, 0-1
    (null with none ended). `missed_inbound`: inbound calls ended unanswered (NO_ANSWER, CANCELLED, FAILED, BUSY)."""

    calls: int
    in_progress: int
    answered: int
    no_answer: int
    busy: int
    failed: int
    cancelled: int
    inbound: int
    outbound: int
    missed_inbound: int
    answer_rate: float | None
    wait_total: float
    wait_avg: float | None
    talk_total: int
    talk_avg: float | None


class StatsGroup(StatsFigures):
    """One group: `key` its period's start (hour: YYYY-MM-DD HH:00:00, day: YYYY-MM-DD, in C2C_TIMEZONE), hotline,
    extension ("" gathers inbound calls no agent answered) or tenant ("" the operator's own calls)."""

    key: str


Stats = TypedDict("Stats", {
    "status": Literal["success"],
    "from": Time,  # the period's start
    "to": Time,  # its end (excluded)
    "timezone": str,  # C2C_TIMEZONE: the zone of the times and of the hour and day periods
    "group_by": StatsGroupBy,
    "total": StatsFigures,  # the whole period
    "data": list[StatsGroup],  # periods in order; other groupings by key
})
Stats.__doc__ = "Call statistics of a period, per group (see StatsFigures for what each figure counts)."
