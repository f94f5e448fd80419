"""The click-to-call flow as one pure state machine.

    transition(state, event) -> (state, commands)

No I/O here: ARI requests, waking the HTTP request that waits, and clean-up are
commands that the edges (stasis_app.calls) execute. Every rule of the call lives
in this file, so it can be read and unit-tested without an Asterisk.

The flow: ring the agent's extension (originate into the Stasis app). The agent
answering is the StasisStart of the agent leg; then the mixing bridge and the
customer leg are created, the customer joins the bridge *before* it is dialled (so
the agent hears the carrier's ringback and early media), and is dialled through the
hotline's trunk. When either leg ends, the other is hung up; when both are gone, the
bridge goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from .. import q850
from ..states import CallStatus, HangupBy, Party
from . import controls as control
from . import ids, in_call
from . import supervision as supervise
from . import transfers as xfer
from .legs import Leg


class Phase(str, Enum):
    NEW = "new"  # accepted; the agent leg being originated
    AGENT_RINGING = "agent_ringing"  # agent's extension rings
    DIALING = "dialing"  # agent answered; customer leg dialled into the bridge
    CONNECTED = "connected"  # customer answered: both parties talk
    ENDING = "ending"  # hang-ups sent; waiting for the channels to go
    ENDED = "ended"


@dataclass(frozen=True)
class CallSpec:
    """What one click-to-call asked for, with every default already resolved and validated."""

    call_id: str
    ext: str
    phone: str
    hotline: str
    trunk: str
    src_cid_name: str
    src_cid_number: str
    dest_cid_name: str | None
    dest_cid_number: str
    auto_answer: bool
    ring_timeout: int
    dial_timeout: int
    customer_id: str | None = None  # the CRM's id for the customer: recorded and sent in webhooks
    recording_url: str | None = None  # where the recording will be served, when the call is recorded
    agent_channel: str | None = None  # a dialplan handoff: the agent's channel exists already, with Asterisk's id
    tenant: str | None = None  # whose call it is (C2C_TENANTS_FILE); None: the operator's
    node: str = ""  # the Asterisk node it runs on

    @property
    def bridge_id(self) -> str:
        return ids.bridge_id(self.call_id)

    def channel_id(self, leg: Party) -> str:
        if leg == Party.AGENT and self.agent_channel:
            return self.agent_channel
        return ids.channel_id(self.call_id, leg)


@dataclass(frozen=True)
class CallState:
    spec: CallSpec
    created_at: float = 0.0
    phase: Phase = Phase.NEW
    agent: Leg = field(default_factory=Leg)
    customer: Leg = field(default_factory=Leg)
    result: str | None = None  # "success" or an error code, once the agent leg is decided
    hangup_by: HangupBy | None = None
    recording: bool = False  # the bridge is being recorded
    recording_error: str | None = None  # why a recording asked for did not happen (the call goes on)
    controls: control.Controls = field(default_factory=control.Controls)  # who is held or muted
    actions: tuple[control.Action, ...] = ()  # what was done to the call, for its record
    supervision: supervise.Supervision = field(default_factory=supervise.Supervision)
    transfers: xfer.Transfers = field(default_factory=xfer.Transfers)

    def leg(self, name: Party) -> Leg:
        return self.agent if name == Party.AGENT else self.customer

    def with_leg(self, name: Party, **changes) -> "CallState":
        return replace(self, **{name: replace(self.leg(name), **changes)})


# ---- events (what happened) ----


@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class HandedOff:
    """The dialplan gave us the agent's channel (Stasis): it is the agent leg, already with us."""

    at: float = 0.0
    sip_call_id: str = ""


@dataclass(frozen=True)
class Originated:
    at: float = 0.0


@dataclass(frozen=True)
class OriginateFailed:
    code: str
    message: str


@dataclass(frozen=True)
class Ringing:
    leg: Party
    at: float = 0.0
    sip_call_id: str = ""


@dataclass(frozen=True)
class Answered:
    leg: Party
    at: float = 0.0
    sip_call_id: str = ""


@dataclass(frozen=True)
class CustomerReady:
    """The created customer channel has entered the app (its StasisStart): it can join the bridge."""


@dataclass(frozen=True)
class ChannelGone:
    leg: Party
    cause: int
    cause_txt: str = ""
    at: float = 0.0
    by: HangupBy | None = None  # who ended it, when not the leg itself (e.g. the PBX lost it: SYSTEM)


@dataclass(frozen=True)
class CustomerFailed:
    """Creating, bridging or dialling the customer leg failed at the ARI level."""

    message: str
    channel_exists: bool


@dataclass(frozen=True)
class RecordingStarted:
    pass


@dataclass(frozen=True)
class RecordingFailed:
    reason: str


@dataclass(frozen=True)
class HangupRequested:
    by: HangupBy = HangupBy.API


Event = (
    Start | HandedOff | Originated | OriginateFailed | Ringing | Answered | CustomerReady | ChannelGone | CustomerFailed
    | HangupRequested | RecordingStarted | RecordingFailed | control.ControlRequested | control.ControlFailed
    | supervise.SuperviseRequested | supervise.Event | xfer.Event
)

# ---- commands (what the edges must do) ----


@dataclass(frozen=True)
class OriginateAgent:
    spec: CallSpec


@dataclass(frozen=True)
class AnswerAgent:
    """Answer the handed-off agent channel (a no-op if it is up), so it hears the customer's ringback."""

    channel_id: str


@dataclass(frozen=True)
class CreateCustomer:
    """Create the mixing bridge and the customer channel (not dialled yet)."""

    spec: CallSpec


@dataclass(frozen=True)
class DialCustomer:
    """Put both legs in the bridge, set the caller ID the customer sees, then dial the customer."""

    spec: CallSpec


@dataclass(frozen=True)
class StartRecording:
    """Record the bridge (both sides mixed) from the customer's answer to the end."""

    spec: CallSpec


@dataclass(frozen=True)
class Hangup:
    channel_id: str


@dataclass(frozen=True)
class DestroyBridge:
    bridge_id: str


@dataclass(frozen=True)
class ReportAnswered:
    """Wake the sync request: the agent answered (error is None) or the agent leg ended unanswered."""

    error: str | None
    message: str = ""


@dataclass(frozen=True)
class Finish:
    """The call is over: forget it, free the extension."""


Command = (
    OriginateAgent | AnswerAgent | CreateCustomer | DialCustomer | StartRecording | Hangup | DestroyBridge | ReportAnswered
    | Finish | control.Command | supervise.Command | xfer.Command
)

# Q.850 causes of an agent leg that ended before answering -> the API's error code.
AGENT_CAUSES = {
    q850.USER_BUSY: "USER_BUSY",  # 486 Busy Here
    q850.CALL_REJECTED: "CALL_REJECTED",  # 603 Decline
    18: "NO_ANSWER",
    19: "NO_ANSWER",  # ring timeout
    20: "USER_NOT_REGISTERED",  # subscriber absent: the phone went away while ringing
}


def agent_failure(cause: int, hangup_by: HangupBy | None) -> str:
    if hangup_by == HangupBy.API:
        return "CANCELLED"
    return AGENT_CAUSES.get(cause, "CALL_FAILED")


def transition(state: CallState, event: Event) -> tuple[CallState, list[Command]]:
    spec = state.spec
    phase = state.phase

    if phase is Phase.ENDED:
        return state, []
    if isinstance(event, in_call.EVENTS):
        return in_call.transition(state, event, IN_CALL)

    match event:
        case Start() if phase is Phase.NEW:
            return state, [OriginateAgent(spec)]

        case HandedOff(at, sip_call_id) if phase is Phase.NEW:
            state = state.with_leg(Party.AGENT, created=True, created_at=at, answered=True, answered_at=at,
                                   sip_call_id=sip_call_id or None)
            state = replace(state.with_leg(Party.CUSTOMER, created=True, created_at=at), phase=Phase.DIALING,
                            result="success")
            return state, [AnswerAgent(spec.channel_id(Party.AGENT)), CreateCustomer(spec)]

        case Originated(at) if phase is Phase.NEW:
            state = state.with_leg(Party.AGENT, created=True, created_at=at)
            return replace(state, phase=Phase.AGENT_RINGING), []

        case OriginateFailed(code, message) if phase is Phase.NEW:
            ended = replace(state, phase=Phase.ENDED, result=code)
            return ended, [ReportAnswered(code, message), Finish()]

        case Ringing(leg, at, sip_call_id) if state.leg(leg).alive and not state.leg(leg).ringing:
            # A customer rings only once dialled: bridged (also when the dial was made by a replica that stopped).
            return state.with_leg(leg, ringing=True, ringing_at=at, bridged=state.leg(leg).bridged or leg == Party.CUSTOMER,
                                  sip_call_id=sip_call_id or state.leg(leg).sip_call_id), []

        case Answered(Party.AGENT, at, sip_call_id) if phase is Phase.AGENT_RINGING:
            state = state.with_leg(Party.AGENT, answered=True, answered_at=at,
                                   sip_call_id=sip_call_id or state.agent.sip_call_id)
            state = replace(state, phase=Phase.DIALING, result="success")
            return state.with_leg(Party.CUSTOMER, created=True, created_at=at), [ReportAnswered(None), CreateCustomer(spec)]

        case CustomerReady() if phase is Phase.DIALING and state.customer.alive and not state.customer.bridged:
            # Joining the bridge *before* the dial is what lets the agent hear ringback and early media.
            return state.with_leg(Party.CUSTOMER, bridged=True), [DialCustomer(spec)]

        case Answered(Party.CUSTOMER, at, sip_call_id) if phase is Phase.DIALING:
            state = state.with_leg(Party.CUSTOMER, answered=True, answered_at=at, bridged=True,
                                   sip_call_id=sip_call_id or state.customer.sip_call_id)
            return replace(state, phase=Phase.CONNECTED), [StartRecording(spec)] if spec.recording_url else []

        case RecordingStarted() if phase is Phase.CONNECTED:
            return replace(state, recording=True), []

        case RecordingFailed(reason) if state.recording_error is None:
            return replace(state, recording=False, recording_error=reason), []

        case ChannelGone(leg, cause, cause_txt, at, by):
            if by and state.leg(leg).alive:
                state = replace(state, hangup_by=state.hangup_by or by)
            return _leg_gone(state, leg, cause, cause_txt, at)

        case CustomerFailed(_, channel_exists) if phase in (Phase.DIALING, Phase.CONNECTED):
            state = replace(state, hangup_by=state.hangup_by or HangupBy.SYSTEM)
            if not channel_exists:
                state = state.with_leg(Party.CUSTOMER, gone=True)
            return _end(state, _alive_channels(state))

        case HangupRequested(by) if phase is not Phase.ENDING:
            state = replace(state, hangup_by=state.hangup_by or by)
            return _end(state, _alive_channels(state))

    return state, []


def _xctx(state: CallState, event=None) -> xfer.Context:
    spec = state.spec
    # The target sees the customer's number; an external number sees the hotline (as the customer did).
    external = isinstance(event, xfer.TransferRequested) and bool(event.phone) or bool(
        (x := state.transfers.current) and x.phone)
    cid = in_call.caller_id(spec.dest_cid_name, spec.dest_cid_number) if external else \
        in_call.caller_id(None, spec.phone)
    return in_call.context(state, spec.call_id, spec.bridge_id, {party: spec.channel_id(party) for party in Party},
                           {party: state.leg(party).alive for party in Party}, state.phase is Phase.CONNECTED,
                           spec.trunk, cid, spec.ring_timeout)


def _ended_by(state: CallState, party: Party) -> tuple[CallState, list[Command]]:
    """A target that had become `party` hung up, and no transfer goes on without it: the call ends."""
    if state.phase is Phase.CONNECTED:
        state = replace(state, hangup_by=state.hangup_by or HangupBy(party))
    return _end(state, _alive_channels(state))


def _settled(state: CallState) -> tuple[CallState, list[Command]]:
    """An ending call whose last channel just went ends."""
    if state.phase is Phase.ENDING and not _alive_channels(state):
        return _end(state, [])
    return state, []


IN_CALL = in_call.Flow(context=_xctx, agent_ext=lambda state: state.spec.ext, ended_by=_ended_by, settled=_settled)


def _leg_gone(state: CallState, leg: Party, cause: int, cause_txt: str, at: float) -> tuple[CallState, list[Command]]:
    if not state.leg(leg).alive:
        return state, []  # a replayed or late event
    state = state.with_leg(leg, gone=True, cause=cause, cause_txt=cause_txt, ended_at=at)
    commands: list[Command] = []
    if in_call.not_current(state, leg, state.spec.channel_id(leg)):
        return _settled(state)  # transferred away (or hung up for a transfer): only its leg in the record ends
    if state.transfers.history:
        state, commands = in_call.transferred(state, _xctx(state), xfer.PartyGone(leg, at))
        if xfer.survives(state.transfers, leg):
            return state, commands
    if leg == Party.AGENT and state.result is None:  # ended before answering: the sync request learns why
        code = agent_failure(cause, state.hangup_by)
        state = replace(state, result=code, hangup_by=state.hangup_by or HangupBy.AGENT)
        commands.append(ReportAnswered(code, f"agent leg ended: {cause_txt or cause}"))
    elif state.phase in (Phase.DIALING, Phase.CONNECTED):
        state = replace(state, hangup_by=state.hangup_by or HangupBy(leg))
    alive = _alive_channels(state)
    if alive and state.phase is Phase.ENDING:
        return state, commands  # its hang-up is already on its way
    state, more = _end(state, alive)
    return state, commands + more


def _alive_channels(state: CallState) -> list[str]:
    legs = [state.spec.channel_id(name) for name in (Party.AGENT, Party.CUSTOMER) if state.leg(name).alive]
    return legs + in_call.alive_targets(state.transfers, state.spec.call_id)


def _end(state: CallState, channels: list[str]) -> tuple[CallState, list[Command]]:
    """Hang up what is still up; the call ends when the last ChannelGone arrives."""
    state, drops = in_call.end_supervision(state, _xctx(state), max((state.agent.ended_at or 0, state.customer.ended_at or 0)))
    if drops:
        state, more = _end(state, channels)
        return state, [*drops, *more]
    if not channels:
        # The bridge exists once the agent has answered (CreateCustomer creates it with the customer channel).
        cleanup = [DestroyBridge(state.spec.bridge_id)] if state.agent.answered else []
        return replace(state, phase=Phase.ENDED), [*cleanup, Finish()]
    return replace(state, phase=Phase.ENDING), [Hangup(c) for c in channels]


def resync(state: CallState, channels: dict[str, str], at: float, outside: frozenset[str] = frozenset()) -> list[Event]:
    """After a reconnect, ARI replays nothing: compare what we believe with the channels Asterisk has now
    (`channel id -> state`) and return the events we missed, so the call catches up. `outside`: channels that are
    not in the app (an agent leg answered while no replica ran the node, waiting in the dialplan to enter again):
    up, but not ours to bridge until their StasisStart."""
    spec, out = state.spec, []
    for name in (Party.AGENT, Party.CUSTOMER):
        leg = state.leg(name)
        if not leg.alive:
            continue
        now = channels.get(spec.channel_id(name))
        if now is None:
            out.append(ChannelGone(name, q850.NETWORK_OUT_OF_ORDER, "vanished while ARI was disconnected", at,
                                   by=HangupBy.SYSTEM))
        elif name == Party.AGENT and state.phase is Phase.AGENT_RINGING and now == "Up" \
                and spec.channel_id(name) not in outside:
            out.append(Answered(name, at))
        elif name == Party.CUSTOMER and state.phase is Phase.DIALING:
            # A record does not say whether the customer was dialled (a call adopted from another replica): the
            # channel does. Ringing or up, it was; still down, it is to be bridged and dialled.
            if now == "Up":
                out.append(Answered(name, at))
            elif now in ("Ring", "Ringing"):
                if not leg.ringing:
                    out.append(Ringing(name, at))
            elif not leg.bridged:
                out.append(CustomerReady())
    return out + in_call.resync_targets(state.transfers, spec.call_id, channels, at)


def final_status(state: CallState) -> CallStatus:
    """What a call that has ended amounts to: ANSWERED, BUSY, NO_ANSWER, FAILED or CANCELLED."""
    if state.customer.answered:
        return CallStatus.ANSWERED
    if state.hangup_by == HangupBy.API or (state.agent.answered and state.hangup_by == HangupBy.AGENT):
        return CallStatus.CANCELLED  # stopped before the customer answered
    leg = state.customer if state.agent.answered else state.agent
    if leg.cause in q850.BUSY:
        return CallStatus.BUSY
    if leg.cause in q850.NO_ANSWER:
        return CallStatus.NO_ANSWER
    return CallStatus.FAILED
