"""Webhook events: which events a call-state change makes, and their payload. Pure."""

from __future__ import annotations

import time
from typing import Literal

from .. import q850
from ..schema.events import PAYLOADS, CallEvent
from ..states import CallStatus, Direction, EventName, HangupBy, Party
from ..stasis_app import ids
from ..stasis_app import inbound_flow as inbound
from ..stasis_app import transfers as xfer
from ..stasis_app.call_flow import CallState, Leg, Phase


LEG_EVENTS = (EventName.RINGING, EventName.ANSWERED)  # about one leg; the others are about the whole call
# "": the event is about no one leg (a cdr; a hangup by neither party); an inbound call's agent legs are agent-N
EventLeg = Party | Literal[""] | str
State = CallState | inbound.InboundState


def events_between(before: State, after: State) -> list[tuple[EventName, EventLeg]]:
    """(event, leg) for what happened between two states, in the order it happened. The leg of a hangup is the
    party that hung up."""
    supervision = _supervision_events(before, after) + _transfer_events(before, after)
    if isinstance(after, inbound.InboundState):
        return supervision + _inbound_events(before, after)
    return supervision + _call_events(before, after)


def _supervision_events(before: State, after: State) -> list[tuple[EventName, EventLeg]]:
    """A supervisor answered in a mode, switched mode, or left (the leg: supervisor-N)."""
    out: list[tuple[EventName, EventLeg]] = []
    for i, now in enumerate(after.supervision.supervisors):
        was = before.supervision.supervisors[i] if i < len(before.supervision.supervisors) else None
        started = now.answered and (was is None or not was.answered)
        switched = now.answered and was is not None and was.answered and was.mode is not now.mode and now.alive
        left = now.answered and now.gone and was is not None and not was.gone
        if started or switched or left:
            out.append((EventName.SUPERVISION, f"{ids.SUPERVISOR_PREFIX}{i}"))
    return out


def _transfer_events(before: State, after: State) -> list[tuple[EventName, EventLeg]]:
    """A transfer started, answered or failed (the leg: transfer-N/status); its target's leg rang or answered (the
    leg: transfer-N)."""
    out: list[tuple[EventName, EventLeg]] = []
    for body in xfer.webhook_events(before.transfers, after.transfers):
        n, status = body["transfer"], body["status"]
        if status == xfer.Status.STARTED:
            out.append((EventName.TRANSFER, f"{ids.TRANSFER_PREFIX}{n}/{status}"))
            continue
        if status == xfer.Status.ANSWERED:
            out.append((EventName.ANSWERED, f"{ids.TRANSFER_PREFIX}{n}"))
        out.append((EventName.TRANSFER, f"{ids.TRANSFER_PREFIX}{n}/{status}"))
    goes_on = after.phase not in (Phase.ENDING, Phase.ENDED, inbound.Phase.ENDING, inbound.Phase.ENDED)
    for x in after.transfers.history:
        was = before.transfers.get(x.n)
        if x.ringing_at is not None and (was is None or was.ringing_at is None):
            out.insert(0, (EventName.RINGING, f"{ids.TRANSFER_PREFIX}{x.n}"))
        if goes_on and x.answered_at is not None and x.ended_at is not None and was is not None \
                and was.ended_at is None:
            out.append((EventName.HANGUP, f"{ids.TRANSFER_PREFIX}{x.n}"))  # the call's own comes at its end
    return out


def _target_leg_payload(state: State, event: EventName, leg: EventLeg, sequence: int, at: float) -> CallEvent:
    """A transfer target's leg rang, answered, or (answered) ended while the call goes on: to_number the target."""
    x = state.transfers.get(ids.index_of(leg, ids.TRANSFER_PREFIX))
    inbound_call = isinstance(state, inbound.InboundState)
    spec = state.spec
    body = PAYLOADS[event](
        call_id=spec.call_id, sip_call_id="", direction=Direction.INBOUND if inbound_call else Direction.OUTBOUND,
        from_number=spec.caller if inbound_call else spec.ext, to_number=x.target, hotline=spec.hotline,
        state=event, leg="transfer", cause="", customer_id="" if inbound_call else spec.customer_id or "",
        node=spec.node, timestamp=round(at, 3), sequence=sequence)
    if event is EventName.HANGUP:
        body.update(cause=q850.name(x.cause) if x.cause is not None else "",
                    duration=round(x.ended_at - x.started_at), billsec=round(x.ended_at - x.answered_at),
                    status=CallStatus.ANSWERED)
    return body


def _transfer_payload(state: State, event: EventName, leg: EventLeg, sequence: int, at: float) -> CallEvent:
    number, _, status = leg.partition("/")
    x = state.transfers.get(ids.index_of(number, ids.TRANSFER_PREFIX))
    body = xfer.payload(x, xfer.Status(status))
    inbound_call = isinstance(state, inbound.InboundState)
    spec = state.spec
    cause_code = body.pop("cause", None)
    cause = body.pop("cause_txt", None) or ""
    if status == xfer.Status.FAILED:
        body["cause_code"] = cause_code
    return PAYLOADS[event](
        call_id=spec.call_id, sip_call_id="", direction=Direction.INBOUND if inbound_call else Direction.OUTBOUND,
        from_number=spec.caller if inbound_call else spec.ext,
        to_number=state.answered_ext if inbound_call else spec.phone, hotline=spec.hotline, state=event,
        leg="transfer", cause=cause, customer_id="" if inbound_call else spec.customer_id or "", node=spec.node,
        timestamp=round(at, 3), sequence=sequence, **body)


def _call_events(before: CallState, after: CallState) -> list[tuple[EventName, EventLeg]]:
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


def _inbound_events(before: inbound.InboundState, after: inbound.InboundState) -> list[tuple[EventName, EventLeg]]:
    """Each agent leg's ringing and answer; at the end, the hangup, `missed` when nobody answered, and the cdr."""
    out: list[tuple[EventName, EventLeg]] = []
    for i, now in enumerate(after.agents):
        was = before.agents[i] if i < len(before.agents) else inbound.AgentLeg()
        leg = f"{Party.AGENT}-{i}"
        if now.ringing and not was.ringing:
            out.append((EventName.RINGING, leg))
        if now.answered and not was.answered:
            out.append((EventName.ANSWERED, leg))
    if after.phase is inbound.Phase.ENDED and before.phase is not inbound.Phase.ENDED:
        ender = Party(after.hangup_by) if after.hangup_by in (HangupBy.AGENT, HangupBy.CUSTOMER) else ""
        out.append((EventName.HANGUP, ender))
        if after.answered_by is None:
            out.append((EventName.MISSED, ""))
        out.append((EventName.CDR, ""))
    return out


def _inbound_leg(state: inbound.InboundState, leg: EventLeg) -> tuple[Leg, str]:
    """The leg an event is about, and the extension it shows as to_number."""
    index = ids.agent_index(leg) if leg else None
    if index is not None:
        return state.agents[index], state.agents[index].ext
    if leg == Party.AGENT and state.answered_by is not None:
        return state.agents[state.answered_by], state.answered_ext
    return state.customer, state.answered_ext


def _inbound_payload(state: inbound.InboundState, values: dict, event: EventName, leg: EventLeg, sequence: int,
                     at: float) -> CallEvent:
    spec = state.spec
    leg_state, ext = _inbound_leg(state, leg)
    body = PAYLOADS[event](
        call_id=spec.call_id, sip_call_id=leg_state.sip_call_id or "", direction=Direction.INBOUND,
        from_number=spec.caller, to_number=ext, hotline=spec.hotline, state=event,
        leg=Party.AGENT if leg and leg.startswith(Party.AGENT) else leg,
        cause=q850.name(leg_state.cause) if event in LEG_EVENTS else values.get("cause_txt") or "",
        customer_id="", node=spec.node, timestamp=round(at, 3), sequence=sequence,
    )
    if event not in LEG_EVENTS:
        body.update(duration=values.get("duration", 0), billsec=values.get("billsec", 0), status=values.get("status"))
    if event is EventName.MISSED:
        body.update(rung=list(dict.fromkeys(a.ext for a in state.agents)), waited=values.get("duration", 0),
                    ring_group=spec.group.name)
    return body


def _supervision_payload(state: State, event: EventName, leg: EventLeg, sequence: int, at: float) -> CallEvent:
    spec, supervisor = state.spec, state.supervision.supervisors[ids.index_of(leg, ids.SUPERVISOR_PREFIX)]
    inbound_call = isinstance(state, inbound.InboundState)
    return PAYLOADS[event](
        call_id=spec.call_id, sip_call_id=supervisor.sip_call_id or "",
        direction=Direction.INBOUND if inbound_call else Direction.OUTBOUND,
        from_number=spec.caller if inbound_call else spec.ext,
        to_number=state.answered_ext if inbound_call else spec.phone, hotline=spec.hotline, state=event,
        leg="supervisor", cause="", customer_id="" if inbound_call else spec.customer_id or "", node=spec.node,
        timestamp=round(at, 3), sequence=sequence, supervisor=supervisor.ext,
        mode="ended" if supervisor.gone else supervisor.mode.value)


def payload(state: State, values: dict, event: EventName, leg: EventLeg, sequence: int, at: float) -> CallEvent:
    """The event's payload, built as its model (schema.events) says; the outbox adds a cdr event's record."""
    if event is EventName.SUPERVISION:
        return _supervision_payload(state, event, leg, sequence, at)
    if event is EventName.TRANSFER:
        return _transfer_payload(state, event, leg, sequence, at)
    if leg and ids.index_of(leg, ids.TRANSFER_PREFIX) is not None:
        return _target_leg_payload(state, event, leg, sequence, at)
    if isinstance(state, inbound.InboundState):
        return _inbound_payload(state, values, event, leg, sequence, at)
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


def event_time(state: State, event: EventName, leg: EventLeg) -> float:
    """When it happened: the leg's own time for a leg's event (Asterisk's timestamp), else now."""
    if leg and (n := ids.index_of(leg, ids.TRANSFER_PREFIX)) is not None:
        x = state.transfers.get(n)
        return (x.ended_at if event is EventName.HANGUP else getattr(x, f"{event}_at")) or time.time()
    if event in LEG_EVENTS and leg:
        found = _inbound_leg(state, leg)[0] if isinstance(state, inbound.InboundState) else state.leg(leg)
        return getattr(found, f"{event}_at") or time.time()
    return time.time()


