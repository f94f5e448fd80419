"""What an inbound call's state means as a call record (pure): the columns, and the state rebuilt from them to adopt
the call. The agents rung are kept, with the rest of the flow's state, as JSON in `flow`; the columns hold what the
CDR API filters and shows: the caller (`phone`), the extension that answered (`extension`, "" when none did), its leg
(`agent_*`) and the caller's (`customer_*`)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from . import q850
from .ring_group import RingGroup
from .states import Direction, HangupBy, NoAnswer, Party, RingStrategy
from .stasis_app import controls as control
from .stasis_app import supervision as supervise
from .stasis_app import transfers as xfer
from .stasis_app.call_flow import Leg
from .stasis_app.inbound_flow import AgentLeg, InboundSpec, InboundState, Phase, Step, final_status

PHASE_RANK = {phase: rank for rank, phase in enumerate(Phase)}


def identity(state: InboundState) -> dict:
    """The columns written once, at insert."""
    spec = state.spec
    return dict(
        call_id=spec.call_id, direction=Direction.INBOUND, extension="", phone=spec.caller, hotline=spec.hotline,
        trunk=spec.trunk, src_cid_name=spec.caller_name or None, src_cid_number=spec.caller or None,
        dest_cid_name=None, dest_cid_number=None, customer_id=None, agent_channel=None, tenant=spec.tenant,
        node=spec.node or None, ring_group=spec.group.name or None, ring_timeout=spec.group.ring_seconds,
        dial_timeout=None, auto_answer=False, record_url=None,
    )


def _leg_columns(prefix: str, leg: Leg | None) -> dict:
    leg = leg or Leg()
    return {f"{prefix}_sip_call_id": leg.sip_call_id, f"{prefix}_created_at": leg.created_at,
            f"{prefix}_ringing_at": leg.ringing_at, f"{prefix}_answered_at": leg.answered_at,
            f"{prefix}_ended_at": leg.ended_at, f"{prefix}_cause": leg.cause, f"{prefix}_cause_txt": leg.cause_txt}


def flow_json(state: InboundState) -> str:
    group = state.spec.group
    return json.dumps({
        "channel": state.spec.channel, "caller_name": state.spec.caller_name,
        "group": {**asdict(group), "extensions": list(group.extensions), "hotlines": list(group.hotlines)},
        "agents": [asdict(leg) for leg in state.agents], "step": state.step.value,
        "answered_by": state.answered_by, "failed": state.failed,
    }, separators=(",", ":"))


def row(state: InboundState) -> dict:
    answered = state.agents[state.answered_by] if state.answered_by is not None else None
    shown = answered or (state.agents[-1] if state.agents else None)  # the agent leg the columns show
    values: dict = {
        "phase": state.phase.value, "phase_rank": PHASE_RANK[state.phase], "result": None,
        "hangup_by": state.hangup_by, "answered_at": state.customer.answered_at, "extension": state.answered_ext,
        "recording_url": None, "recording_error": None, "flow": flow_json(state),
        "actions": control.actions_json(state.actions), "joined": supervise.joined_json(state.supervision),
        "transfers": xfer.transfers_json(state.transfers), "transferred_to": xfer.transferred_to(state.transfers),
        **_leg_columns("agent", shown), **_leg_columns("customer", state.customer),
    }
    if state.phase is Phase.ENDED:
        ends = [t for t in (state.customer.ended_at, *(a.ended_at for a in state.agents)) if t]
        ended = max(ends, default=time.time())
        first = answered if state.hangup_by == HangupBy.AGENT and answered else state.customer
        cause = first.cause
        if cause == 0 and first.answered:
            cause = q850.NORMAL_CLEARING
        answered_at = state.customer.answered_at
        values.update({
            "status": final_status(state), "ended_at": ended, "cause": cause,
            "cause_txt": q850.name(cause) if cause is not None else None,
            "duration": max(0, round(ended - state.created_at)),
            "billsec": max(0, round(ended - answered_at)) if answered_at else 0,
        })
    return values


def agents_of(record: dict) -> list[AgentLeg]:
    """The agent legs of an inbound call's record."""
    if not record.get("flow"):
        return []
    return [AgentLeg(**leg) for leg in json.loads(record["flow"])["agents"]]


def state_from_row(r: dict) -> InboundState:
    saved = json.loads(r["flow"])
    g = saved["group"]
    group = RingGroup(**{**g, "extensions": tuple(g["extensions"]), "hotlines": tuple(g["hotlines"]),
                         "strategy": RingStrategy(g["strategy"]), "no_answer": NoAnswer(g["no_answer"]),
                         "continue_to": tuple(g["continue_to"]) if g["continue_to"] else None})
    spec = InboundSpec(call_id=r["call_id"], channel=saved["channel"], caller=r["phone"],
                       caller_name=saved["caller_name"], hotline=r["hotline"], trunk=r["trunk"], group=group,
                       tenant=r["tenant"], node=r["node"] or "", sip_call_id=r["customer_sip_call_id"] or "")
    customer = Leg(created=True, ringing=r["customer_ringing_at"] is not None,
                   answered=r["customer_answered_at"] is not None, gone=r["customer_ended_at"] is not None,
                   cause=r["customer_cause"], cause_txt=r["customer_cause_txt"], sip_call_id=r["customer_sip_call_id"],
                   created_at=r["customer_created_at"], ringing_at=r["customer_ringing_at"],
                   answered_at=r["customer_answered_at"], ended_at=r["customer_ended_at"])
    actions = control.actions_of(r.get("actions"))
    answered_by = saved["answered_by"]
    originals = {Party.AGENT: spec.agent_channel(answered_by) if answered_by is not None else "",
                 Party.CUSTOMER: spec.channel}
    return InboundState(spec=spec, created_at=r["created_at"], phase=Phase(r["phase"]), customer=customer,
                        actions=actions, controls=control.replay(actions),
                        supervision=supervise.joined_of(r.get("joined")),
                        transfers=xfer.replay(r["call_id"], xfer.transfers_of(r.get("transfers")), originals, actions),
                        agents=tuple(AgentLeg(**leg) for leg in saved["agents"]), step=Step(saved["step"]),
                        answered_by=answered_by,
                        hangup_by=HangupBy(r["hangup_by"]) if r["hangup_by"] else None, failed=saved["failed"])
