"""The CDR API's language: filters parsed from the query string, records serialised with the field
names CRMs already read from TEL4VN's CDR API (our richer fields sit beside them)."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import inbound_rows, q850, validation
from .db import calls
from .schema.cdr import (  # noqa: F401 (MAX_LIMIT and the cursor: the CDR API's, named here too)
    MAX_LIMIT, Cdr, CdrAction, CdrAgentLeg, CdrFilters, CdrLeg, CdrLegs, CdrSupervisorLeg, CdrTransferLeg, decode_cursor,
    encode_cursor,
)
from .states import Direction, Party, Side
from .stasis_app.controls import actions_of
from .stasis_app.supervision import joined_of
from .stasis_app.transfers import transfers_of
from .stasis_app.call_flow import Leg
from .tallies import Countable
from .tenants import Tenant


def fmt_time(epoch: float | None, tz: ZoneInfo) -> str:
    """"%Y-%m-%d %H:%M:%S" in the zone. A page of 500 records writes 7,500 of these: the zone's offset is looked up
    once per quarter hour (every offset and change of one falls on a quarter hour) and the date once per day."""
    if epoch is None:
        return ""
    second = math.floor(round(epoch, 6))  # as datetime rounds to the microsecond
    local = second + _offset(tz, second // 900)
    day, s = divmod(local, 86400)
    return f"{_date(day)} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


@functools.lru_cache(maxsize=4096)
def _offset(tz: ZoneInfo, quarter: int) -> int:
    return int(datetime.fromtimestamp(quarter * 900, tz).utcoffset().total_seconds())


@functools.lru_cache(maxsize=1024)
def _date(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _leg(record: dict, leg: Party, tz: ZoneInfo) -> CdrLeg:
    return CdrLeg(
        sip_call_id=record[f"{leg}_sip_call_id"] or "",
        time_created=fmt_time(record[f"{leg}_created_at"], tz),
        time_ringing=fmt_time(record[f"{leg}_ringing_at"], tz),
        time_answered=fmt_time(record[f"{leg}_answered_at"], tz),
        time_ended=fmt_time(record[f"{leg}_ended_at"], tz),
        cause=q850.name(record[f"{leg}_cause"]),
        cause_code=record[f"{leg}_cause"],
    )


def _agent_leg(leg: Leg, ext: str, tz: ZoneInfo) -> CdrAgentLeg:
    return CdrAgentLeg(
        extension=ext, sip_call_id=leg.sip_call_id or "", time_created=fmt_time(leg.created_at, tz),
        time_ringing=fmt_time(leg.ringing_at, tz), time_answered=fmt_time(leg.answered_at, tz),
        time_ended=fmt_time(leg.ended_at, tz), cause=q850.name(leg.cause), cause_code=leg.cause)


def serialise(record: dict, tz: ZoneInfo) -> Cdr:
    inbound = record["direction"] == Direction.INBOUND
    legs = CdrLegs(agent=_leg(record, Party.AGENT, tz), customer=_leg(record, Party.CUSTOMER, tz))
    if inbound:
        legs["agents"] = [_agent_leg(leg, leg.ext, tz) for leg in inbound_rows.agents_of(record)]
    if record.get("joined"):
        legs["supervisors"] = [CdrSupervisorLeg(**_agent_leg(leg, leg.ext, tz), mode=leg.mode)
                               for leg in joined_of(record["joined"]).supervisors]
    if record.get("transfers"):
        legs["transfers"] = [CdrTransferLeg(
            transfer=x.n, mode=x.mode, legs=x.legs, target=x.target, external=bool(x.phone), hold=x.hold, by=x.by,
            status=x.status,
            time_started=fmt_time(x.started_at, tz), time_ringing=fmt_time(x.ringing_at, tz),
            time_answered=fmt_time(x.answered_at, tz), time_ended=fmt_time(x.ended_at, tz),
            cause=x.cause_txt or "", cause_code=x.cause) for x in transfers_of(record["transfers"])]
    return Cdr(
        id=record["call_id"],
        sip_call_id=record["customer_sip_call_id"] or record["agent_sip_call_id"] or "",
        cause=record["cause_txt"] or "",
        cause_code=record["cause"],
        duration=record["duration"] or 0,
        billsec=record["billsec"] or 0,
        direction=record["direction"],
        recording_url=record["recording_url"] or "",
        extension=record["extension"],
        from_number=record["phone"] if inbound else record["hotline"],
        to_number=record["extension"] if inbound else record["phone"],
        time_started=fmt_time(record["created_at"], tz),
        time_answered=fmt_time(record["answered_at"], tz),
        time_ended=fmt_time(record["ended_at"], tz),
        status=record["status"],
        hotline=record["hotline"],
        customer_id=record["customer_id"] or "",
        tenant=record.get("tenant") or "",
        node=record.get("node") or "",
        hangup_by=record["hangup_by"] or "",
        recording_error=record["recording_error"] or "",
        ring_group=record.get("ring_group") or "",
        transferred_to=record.get("transferred_to") or "",
        legs=legs,
        actions=[CdrAction(action=a.action, legs=Side.ALEG if a.party is Party.AGENT else Side.BLEG,
                           time=fmt_time(a.at, tz), by=a.by, digits=a.digits, ext=a.ext)
                 for a in actions_of(record.get("actions"))],
    )


@dataclass
class CdrQuery:
    common: list = field(default_factory=list)  # conditions every record found meets
    limit: int = 50
    page: int | None = None
    after: tuple[float, str] | None = None
    # The phone filter: a record matches when one of these does (the customer's number or the hotline). The store
    # reads each through its own index rather than an OR that no single index answers.
    either: list = field(default_factory=list)
    # The total as tallies can count it (tallies.py): filters of many records only (none picks out a few).
    countable: Countable | None = None

    @property
    def where(self) -> list:
        """All of it as one WHERE (the phone filter an OR)."""
        return [*self.common, sa.or_(*self.either)] if self.either else self.common


def visible(tenant: Tenant) -> list:
    """The calls this caller sees: its tenant's (the operator: all); an agent token's, those of its extension."""
    where = [] if tenant.is_operator else [calls.c.tenant == tenant.name]
    return where if tenant.agent is None else [*where, calls.c.extension == tenant.agent]


def epoch(when: date | datetime, tz: ZoneInfo, end: bool) -> float:
    """A date is the whole day; a datetime is in the service's time zone unless it names one."""
    if not isinstance(when, datetime):
        return datetime.combine(when + timedelta(days=1) if end else when, time(), tz).timestamp()
    return (when if when.tzinfo else when.replace(tzinfo=tz)).timestamp()


def parse_query(params: Mapping[str, str] | CdrFilters, tz: ZoneInfo) -> CdrQuery:
    f = params if isinstance(params, CdrFilters) else validation.parse(CdrFilters, params)
    c = calls.c
    # The filters of many records (a range, a status, a least duration): what tallies can count (tallies.py).
    many = Countable(start=None if f.start_date is None else epoch(f.start_date, tz, end=False),
                     end=None if f.end_date is None else epoch(f.end_date, tz, end=True),
                     status=f.status, min_duration=f.min_duration)
    where = many.records(many.start, many.end)
    for column in ("extension", "hotline", "customer_id"):
        if (value := getattr(f, column)) is not None:
            where.append(c[column] == value)
    either = [c.phone == f.phone, c.hotline == f.phone] if f.phone is not None else []
    few = any(getattr(f, name) is not None for name in ("extension", "hotline", "customer_id", "phone"))
    countable = many if f.page is not None and not few else None
    return CdrQuery(where, f.limit, f.page, f.scroll_id, either, countable)


def countable(query: CdrQuery, tenant: Tenant) -> Countable | None:
    """The query's total as tallies count it for this caller (an agent token's calls are few: counted)."""
    if query.countable is None or tenant.agent is not None:
        return None
    return replace(query.countable, tenant=None if tenant.is_operator else tenant.name)
