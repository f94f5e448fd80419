"""The CDR API's language: filters parsed from the query string, records serialised with the field
names CRMs already read from TEL4VN's CDR API (our richer fields sit beside them)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import q850, validation
from .db import calls
from .errors import ApiError
from .states import FINAL_STATUSES, CallStatus, Party

MAX_LIMIT = 500
_STATUSES = (*FINAL_STATUSES, CallStatus.IN_PROGRESS)


def fmt_time(epoch: float | None, tz: ZoneInfo) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M:%S")


def serialise(record: dict, tz: ZoneInfo) -> dict:
    legs = {
        leg: {
            "sip_call_id": record[f"{leg}_sip_call_id"] or "",
            "time_created": fmt_time(record[f"{leg}_created_at"], tz),
            "time_ringing": fmt_time(record[f"{leg}_ringing_at"], tz),
            "time_answered": fmt_time(record[f"{leg}_answered_at"], tz),
            "time_ended": fmt_time(record[f"{leg}_ended_at"], tz),
            "cause": q850.name(record[f"{leg}_cause"]),
            "cause_code": record[f"{leg}_cause"],
        }
        for leg in Party
    }
    return {
        "id": record["call_id"],
        "sip_call_id": record["customer_sip_call_id"] or record["agent_sip_call_id"] or "",
        "cause": record["cause_txt"] or "",
        "cause_code": record["cause"],
        "duration": record["duration"] or 0,
        "billsec": record["billsec"] or 0,
        "direction": record["direction"],
        "recording_url": record["recording_url"] or "",
        "extension": record["extension"],
        "from_number": record["hotline"],
        "to_number": record["phone"],
        "time_started": fmt_time(record["created_at"], tz),
        "time_answered": fmt_time(record["answered_at"], tz),
        "time_ended": fmt_time(record["ended_at"], tz),
        "status": record["status"],
        "hotline": record["hotline"],
        "customer_id": record["customer_id"] or "",
        "tenant": record.get("tenant") or "",
        "hangup_by": record["hangup_by"] or "",
        "recording_error": record["recording_error"] or "",
        "legs": legs,
    }


@dataclass
class CdrQuery:
    where: list = field(default_factory=list)
    limit: int = 50
    page: int | None = None
    after: tuple[float, str] | None = None


def _when(text: str, name: str, tz: ZoneInfo, end: bool) -> float:
    """A date (the whole day) or a datetime, in the service's time zone unless it names one."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").date()
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(), tz)
            return moment.timestamp()
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError("INVALID_PARAMETER", f"{name} must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).timestamp()


def _int(params: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:  # not "¹" or "٣"
        raise ApiError("INVALID_PARAMETER", f"{name} must be an integer from {low} to {high}")
    return int(text)


def encode_cursor(record: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps([record["created_at"], record["call_id"]]).encode()).decode()


def decode_cursor(text: str) -> tuple[float, str]:
    try:
        created, call_id = json.loads(base64.urlsafe_b64decode(text.encode()))
        return float(created), str(call_id)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise ApiError("INVALID_PARAMETER", "scroll_id is not one this API returned") from None


def parse_query(params: Mapping[str, str], tz: ZoneInfo) -> CdrQuery:
    q = CdrQuery()
    c = calls.c
    if params.get("start_date"):
        q.where.append(c.created_at >= _when(params["start_date"], "start_date", tz, end=False))
    if params.get("end_date"):
        q.where.append(c.created_at < _when(params["end_date"], "end_date", tz, end=True))
    if params.get("extension"):
        q.where.append(c.extension == validation.extension(params["extension"], "extension"))
    if params.get("phone"):
        number = validation.phone(params["phone"])
        q.where.append(sa.or_(c.phone == number, c.hotline == number))
    if params.get("hotline"):
        q.where.append(c.hotline == validation.phone(params["hotline"], "hotline"))
    if params.get("customer_id"):
        q.where.append(c.customer_id == validation.customer_id(params["customer_id"]))
    if params.get("status"):
        status = params["status"].upper()
        if status not in _STATUSES:
            raise ApiError("INVALID_PARAMETER", f"status must be one of {', '.join(_STATUSES)}")
        q.where.append(c.status == status)
    min_duration = _int(params, "min_duration", None, 0, 10**7)
    if min_duration is not None:
        q.where.append(c.duration >= min_duration)
    q.limit = _int(params, "limit", 50, 1, MAX_LIMIT)
    q.page = _int(params, "page", None, 1, 10**6)
    if q.page is None and params.get("scroll_id"):
        q.after = decode_cursor(params["scroll_id"])
    return q
