"""Call records as the CDR API speaks them: the filters of GET /v1/cdr, the item (TEL4VN's field names, ours beside
them) and the page."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationInfo, WithJsonSchema, field_validator

from typing_extensions import NotRequired, TypedDict

from ..states import FINAL_STATUSES, CallAction, CallStatus, Direction, HangupBy, Side
from . import fields
from .fields import CustomerId, Extension, Phone, QueryInt, refuse
from .query import Query

MAX_LIMIT = 500
STATUSES = (*FINAL_STATUSES, CallStatus.IN_PROGRESS)


YEARS = (1970, 9998)  # records start in 1970; a day can be stepped past a date up to 9998 in any zone


def moment(value: Any, name: str) -> date | datetime:
    """A date (a whole day) or a datetime (in the service's time zone unless it names one)."""
    message = f"{name} must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"
    text = fields.string(value, message)
    try:
        when = datetime.strptime(text, "%Y-%m-%d").date() if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        refuse(message)
    if not YEARS[0] <= when.year <= YEARS[1]:
        refuse(f"{name} must be in the years {YEARS[0]} to {YEARS[1]}")
    return when


def status(value: Any, name: str) -> CallStatus:
    message = f"{name} must be one of {', '.join(STATUSES)}"
    text = fields.string(value, message).upper()
    if text not in STATUSES:
        refuse(message)
    return CallStatus(text)


def encode_cursor(record: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps([record["created_at"], record["call_id"]]).encode()).decode()


def decode_cursor(value: Any, name: str = "scroll_id") -> tuple[float, str]:
    try:
        created, call_id = json.loads(base64.urlsafe_b64decode(value.encode()))
        return float(created), str(call_id)
    except (ValueError, TypeError, AttributeError, binascii.Error, UnicodeError):
        refuse(f"{name} is not one this API returned")


Moment = fields.field(moment, {"type": "string", "description": "YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"}, date | datetime)
Status = fields.field(status, {"type": "string", "enum": list(STATUSES),
                               "description": "upper or lower case"}, CallStatus)


class CdrSelection(Query):
    """Which records: the filters of GET /v1/cdr, and all of GET /v1/cdr/export's. Checked in the order of the
    fields."""

    start_date: Moment | None = Field(None, description="from (a date: its start), in C2C_TIMEZONE")
    end_date: Moment | None = Field(None, description="until (a date: its end), in C2C_TIMEZONE")
    extension: Extension | None = None
    phone: Phone | None = Field(None, description="the customer's number or the hotline")
    hotline: Phone | None = None
    customer_id: CustomerId | None = None
    status: Status | None = None
    min_duration: QueryInt(0, 10**7) | None = None


class CdrFilters(CdrSelection):
    """GET /v1/cdr: the filters and paging."""

    limit: QueryInt(1, MAX_LIMIT) = 50
    page: QueryInt(1, 10**6) | None = Field(None, description="page numbers (with total); without: scroll_id paging")
    scroll_id: Annotated[tuple[float, str] | None, WithJsonSchema({"type": "string"})] = Field(
        None, description="the previous page's scroll_id (keyset paging)")

    @field_validator("scroll_id", mode="plain")
    @classmethod
    def _cursor(cls, value: Any, info: ValidationInfo) -> tuple[float, str] | None:
        if info.data.get("page") is not None:
            return None  # paging by number: a cursor is not read
        return decode_cursor(value, info.field_name)


Time = Annotated[str, StringConstraints(pattern=r"^([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})?$"),
                 Field(description='YYYY-MM-DD HH:MM:SS in C2C_TIMEZONE; "" when not reached')]


class CdrLeg(TypedDict):
    sip_call_id: str
    time_created: Time
    time_ringing: Time
    time_answered: Time
    time_ended: Time
    cause: str
    cause_code: int | None


class CdrAction(TypedDict):
    """Something done to the call: hold, unhold, mute, unmute, dtmf; listen, whisper, barge."""

    action: CallAction
    legs: Side  # aleg: the agent's side; bleg: the customer's
    time: Time
    by: str  # the tenant whose token asked ("" the operator's)
    digits: str
    ext: str  # the supervisor (listen, whisper, barge)


class CdrAgentLeg(CdrLeg):
    extension: str


class CdrSupervisorLeg(CdrAgentLeg):
    mode: CallAction  # its last: listen, whisper or barge


class CdrTransferLeg(TypedDict):
    """A transfer and its target's leg: `status` started (under way), answered or failed; `target` the extension or
    number (`external` true: a number dialled through the call's hotline); `by` the API token's tenant ("" the
    operator's) or "phone"."""

    transfer: int
    mode: Literal["blind", "attended"]
    legs: Side  # the party that went on with the target
    target: str
    external: bool
    hold: bool
    by: str
    status: Literal["started", "answered", "failed"]
    time_started: Time
    time_ringing: Time
    time_answered: Time
    time_ended: Time
    cause: str
    cause_code: int | None


class CdrLegs(TypedDict):
    """An inbound call: `agent` is the leg of the agent who answered (else the last rung), `customer` the caller's,
    and `agents` every agent rung, in order."""

    agent: CdrLeg
    customer: CdrLeg
    agents: NotRequired[list[CdrAgentLeg]]
    supervisors: NotRequired[list[CdrSupervisorLeg]]  # those rung to listen, whisper or barge
    transfers: NotRequired[list[CdrTransferLeg]]  # every transfer's target, in order


class Cdr(TypedDict):
    """A call record. `status` is IN_PROGRESS until the call ends; `duration` counts from the click (inbound: from
    the call's arrival), `billsec` from the customer's answer. Outbound: from_number is the hotline, to_number the
    customer. Inbound: from_number is the caller, to_number the extension that answered ("" when none did)."""

    id: str
    sip_call_id: str
    cause: str
    cause_code: int | None
    duration: int
    billsec: int
    direction: Direction
    recording_url: str
    extension: str
    from_number: str
    to_number: str
    time_started: Time
    time_answered: Time
    time_ended: Time
    status: CallStatus
    hotline: str
    customer_id: str
    tenant: str
    node: str  # the Asterisk node the call ran on
    hangup_by: HangupBy | Literal[""]
    recording_error: str
    ring_group: str  # the ring group an inbound call rang ("" otherwise)
    transferred_to: str  # the last transfer target that answered ("" none)
    legs: CdrLegs
    actions: list[CdrAction]


class CdrPage(TypedDict):
    """With `page`: page and total; without: scroll_id, to pass for the next page (null on the last)."""

    data: list[Cdr]
    limit: int
    page: NotRequired[int]
    total: NotRequired[int]
    scroll_id: NotRequired[str | None]
