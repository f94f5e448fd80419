"""Webhook events: which events a call-state change makes, and their payload. Pure."""

from __future__ import annotations

import time
from typing import Literal

from .. import q850
from ..schema.events import PAYLOADS, CallEvent
from ..states import Direction, EventName, HangupBy, Party
from ..stasis_app.call_flow import CallState, Phase


LEG_EVENTS = (EventName.RINGING, EventName.ANSWERED)  # about one leg; the others are about the whole call
EventLeg = Party | Literal[""]  # "": the event is about no one leg (a cdr; a hangup by neither party)


def events_between(before: CallState, after: CallState) -> list[tuple[EventName, EventLeg]]:
    """(event, leg) for what happened between two states, in the order it happened. The leg of a hangup is the
    party that hung up."""
    out: list[tuple[EventName, EventLeg]] = []
    for leg in Party:
        was, now = before.leg(leg), after.leg(leg)
        if now.ringing and not was.ringing:
            out.append((EventName.RINGING, leg))
        if now.answered and not was.answered:
            out.append((EventName.ANSWERED, leg))
    if after.phase is Phase.ENDED and before.phase is not Phase.ENDED:
        ender = Party(after.hangup_by) if after.hangup_by in (HangupBy.AGENT, HangupBy.CUSTOMER) else ""
        out += [(EventName.HANGUP, ender), (EventName.CDR, "")]
    return out


def payload(state: CallState, values: dict, event: EventName, leg: EventLeg, sequence: int, at: float) -> CallEvent:
    """The event's payload, built as its model (schema.events) says; the outbox adds a cdr event's record."""
    spec = state.spec
    leg_state = state.leg(leg) if leg else (state.customer if state.customer.created else state.agent)
    body = PAYLOADS[event](
        call_id=spec.call_id,
        sip_call_id=leg_state.sip_call_id or "",
        direction=Direction.OUTBOUND,
        from_number=spec.ext,
        to_number=spec.phone,
        hotline=spec.hotline,
        state=event,
        leg=leg,
        cause=q850.name(leg_state.cause) if event in LEG_EVENTS else values.get("cause_txt") or "",
        customer_id=spec.customer_id or "",
        node=spec.node,
        timestamp=round(at, 3),
        sequence=sequence,
    )
    if event not in LEG_EVENTS:
        body.update(duration=values.get("duration", 0), billsec=values.get("billsec", 0), status=values.get("status"))
    return body


def event_time(state: CallState, event: EventName, leg: EventLeg) -> float:
    """When it happened: the leg's own time for a leg's event (Asterisk's timestamp), else now."""
    if event in LEG_EVENTS and leg:
        return getattr(state.leg(leg), f"{event}_at") or time.time()
    return time.time()


