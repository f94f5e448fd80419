"""The webhook payload of each event, as sent to a CRM (published under `webhooks` in the OpenAPI document).

TypedDicts: a payload is built as the plain dict it is sent as (six per call, no validation on the way: the state
machine already guarantees what they carry); their JSON Schemas come from pydantic (TypeAdapter)."""

from __future__ import annotations

from typing import Literal

from typing_extensions import NotRequired, TypedDict

from ..states import CallStatus, Direction, EventName, Party
from .cdr import Cdr


class CallEvent(TypedDict):
    """What every event carries. `sequence` increases per call; `timestamp` is when it happened (epoch seconds)."""

    call_id: str
    sip_call_id: str
    direction: Direction
    from_number: str
    to_number: str
    hotline: str
    cause: str
    customer_id: str
    node: str  # the Asterisk node the call runs on
    timestamp: float
    sequence: int


class RingingEvent(CallEvent):
    """A leg starts ringing."""

    state: Literal[EventName.RINGING]
    leg: Party | Literal["transfer"]  # "transfer": a transfer's target leg (to_number the target)


class AnsweredEvent(CallEvent):
    """A leg answers."""

    state: Literal[EventName.ANSWERED]
    leg: Party | Literal["transfer"]


class CallEndEvent(CallEvent):
    duration: int
    billsec: int
    status: CallStatus


class HangupEvent(CallEndEvent):
    """The call ends; `leg` is the party that hung up, or "" (neither: the API, the system). `leg` "transfer": a
    transfer target's answered leg ended while the call goes on (moved on again, or left a transfer under way):
    to_number the target, duration and billsec that leg's, status ANSWERED; the call's own hangup follows at its
    end."""

    state: Literal[EventName.HANGUP]
    leg: Party | Literal["", "transfer"]


class CdrEvent(CallEndEvent):
    """The final record is written: the whole CDR item, and its recording_url."""

    state: Literal[EventName.CDR]
    leg: Literal[""]
    cdr: Cdr
    recording_url: str


class MissedEvent(CallEndEvent):
    """An inbound call ended unanswered (nobody answered, or the caller hung up while agents rang): who was rung, and
    how long the caller waited (seconds)."""

    state: Literal[EventName.MISSED]
    leg: Literal[""]
    rung: list[str]
    waited: int
    ring_group: str


class SupervisionEvent(CallEvent):
    """A supervisor's part of a call: `mode` listen, whisper or barge when it starts or switches, "ended" when it
    leaves. Sent only to hooks subscribed to `supervision` (never to the hook of every event)."""

    state: Literal[EventName.SUPERVISION]
    leg: Literal["supervisor"]
    supervisor: str
    mode: Literal["listen", "whisper", "barge", "ended"]


class TransferEvent(CallEvent):
    """A transfer of the call: `status` started (accepted: the target rings), answered (the target took the place of
    the party that left), or failed (`cause` the reason, `cause_code` its Q.850 code; the parties go on as before,
    except a blind transfer's, which ends the call). `ext` or `phone` is the target; `by` the API token's tenant
    ("" the operator's) or "phone"."""

    state: Literal[EventName.TRANSFER]
    leg: Literal["transfer"]
    transfer: int
    status: Literal["started", "answered", "failed"]
    mode: Literal["blind", "attended"]
    legs: Literal["aleg", "bleg"]
    hold: bool
    by: str
    ext: NotRequired[str]
    phone: NotRequired[str]
    answered_at: NotRequired[float | None]
    cause_code: NotRequired[int | None]


PAYLOADS: dict[EventName, type[CallEvent]] = {
    EventName.RINGING: RingingEvent,
    EventName.ANSWERED: AnsweredEvent,
    EventName.HANGUP: HangupEvent,
    EventName.CDR: CdrEvent,
    EventName.MISSED: MissedEvent,
    EventName.SUPERVISION: SupervisionEvent,
    EventName.TRANSFER: TransferEvent,
}
