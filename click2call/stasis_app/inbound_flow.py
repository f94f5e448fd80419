"""An inbound call to a ring group, as one pure state machine.

    transition(state, event) -> (state, commands)

The dialplan hands the caller's channel to the app (Stasis(click2call,inbound[,TARGET])). The caller hears ringing
(the channel is not answered: a carrier bills from the answer) while the group's agents are rung: every available
one at once (ringall), or one after the other (sequential, in the group's order; longest_idle, the agent idle longest
first), `ring_seconds` each; a caller whose last answered call was with an agent of the group (sticky) rings that agent
first, alone. Who is available (registered, free, not paused) is asked of the edge (Survey) before each step. The
first agent to answer is bridged with the caller, answered only then; the other agents' legs are hung up at once.
When nobody answers within the group's timeout (or nobody can be rung), the caller is hung up, after a prompt if the
group has one, or continues to a dialplan context (voicemail, an IVR).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from .. import q850
from ..ring_group import RingGroup
from ..states import CallStatus, HangupBy, NoAnswer, Party, RingStrategy
from . import controls as control
from . import ids, in_call
from . import supervision as supervise
from . import transfers as xfer
from .call_flow import HangupRequested, Leg

TOTAL = "total"  # the group's timeout


class Phase(str, Enum):
    NEW = "new"  # handed to the app: the agents are being surveyed
    RINGING = "ringing"  # agents ring (or the next step's survey is under way)
    CONNECTED = "connected"  # an agent answered: caller and agent talk
    UNANSWERED = "unanswered"  # nobody answered: the prompt plays, or the caller goes to the dialplan
    ENDING = "ending"  # hang-ups sent; waiting for the channels to go
    ENDED = "ended"


class Step(str, Enum):
    STICKY = "sticky"  # the caller's last agent, alone
    GROUP = "group"


@dataclass(frozen=True)
class InboundSpec:
    call_id: str
    channel: str  # the caller's channel (Asterisk's id)
    caller: str  # the caller's number, validated ("" when it is not a number: anonymous)
    caller_name: str  # validated caller-ID text, or ""
    hotline: str  # the number dialled
    trunk: str  # the endpoint it came in on
    group: RingGroup
    tenant: str | None = None
    node: str = ""
    sip_call_id: str = ""

    @property
    def bridge_id(self) -> str:
        return ids.bridge_id(self.call_id)

    def agent_channel(self, index: int) -> str:
        return ids.agent_channel_id(self.call_id, index)


@dataclass(frozen=True)
class AgentLeg(Leg):
    ext: str = ""


@dataclass(frozen=True)
class InboundState:
    spec: InboundSpec
    created_at: float = 0.0
    phase: Phase = Phase.NEW
    customer: Leg = field(default_factory=lambda: Leg(created=True))
    agents: tuple[AgentLeg, ...] = ()  # every leg rung, in order (a leg's channel id is its index)
    step: Step = Step.GROUP
    answered_by: int | None = None  # the index of the agent leg that answered
    hangup_by: HangupBy | None = None
    failed: bool = False  # bridging the answered agent failed
    controls: control.Controls = field(default_factory=control.Controls)  # who is held or muted
    actions: tuple[control.Action, ...] = ()  # what was done to the call, for its record
    supervision: supervise.Supervision = field(default_factory=supervise.Supervision)
    transfers: xfer.Transfers = field(default_factory=xfer.Transfers)

    @property
    def answered_ext(self) -> str:
        return self.agents[self.answered_by].ext if self.answered_by is not None else ""

    def alive_agents(self) -> list[int]:
        return [i for i, leg in enumerate(self.agents) if leg.alive]

    def tried(self) -> set[str]:
        return {leg.ext for leg in self.agents}

    def with_agent(self, index: int, **changes) -> "InboundState":
        agents = list(self.agents)
        agents[index] = replace(agents[index], **changes)
        return replace(self, agents=tuple(agents))


# ---- events ----


@dataclass(frozen=True)
class Start:
    at: float = 0.0


@dataclass(frozen=True)
class Resumed:
    """Taken over from another replica or a previous run: timers are to be set again."""

    at: float = 0.0


@dataclass(frozen=True)
class Available:
    ext: str
    idle_since: float | None = None  # None: no call since it registered (idle longest)


@dataclass(frozen=True)
class Surveyed:
    """Who of the group can be rung now (registered, free, not paused), in the group's order; and the caller's last
    agent when the group is sticky."""

    available: tuple[Available, ...]
    sticky: str | None = None
    at: float = 0.0


@dataclass(frozen=True)
class AgentRinging:
    index: int
    at: float = 0.0
    sip_call_id: str = ""


@dataclass(frozen=True)
class AgentAnswered:
    index: int
    at: float = 0.0
    sip_call_id: str = ""


@dataclass(frozen=True)
class AgentGone:
    index: int
    cause: int
    cause_txt: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class CustomerGone:
    cause: int
    cause_txt: str = ""
    at: float = 0.0
    by: HangupBy | None = None


@dataclass(frozen=True)
class Connected:
    """The caller is answered and in the bridge with the agent."""

    at: float = 0.0


@dataclass(frozen=True)
class ConnectFailed:
    message: str


@dataclass(frozen=True)
class TimerFired:
    name: str


@dataclass(frozen=True)
class PromptDone:
    pass


Event = (
    Start | Resumed | Surveyed | AgentRinging | AgentAnswered | AgentGone | CustomerGone | Connected | ConnectFailed
    | TimerFired | PromptDone | HangupRequested | control.ControlRequested | control.ControlFailed
    | supervise.SuperviseRequested | supervise.Event | xfer.Event
)

# ---- commands ----


@dataclass(frozen=True)
class Ring:
    """Tell the caller it rings (180 Ringing), without answering."""

    channel: str


@dataclass(frozen=True)
class Survey:
    """Ask who of the group can be rung now; answered by Surveyed."""

    group: RingGroup
    caller: str
    sticky: bool  # also find the caller's last agent


@dataclass(frozen=True)
class RingAgent:
    spec: InboundSpec
    index: int
    ext: str
    timeout: int


@dataclass(frozen=True)
class Connect:
    """Answer the caller, and bridge it with the agent leg that answered."""

    spec: InboundSpec
    index: int


@dataclass(frozen=True)
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True)
class PlayPrompt:
    """Answer the caller and play a sound; PromptDone when it has played."""

    channel: str
    sound: str


@dataclass(frozen=True)
class ContinueInDialplan:
    channel: str
    context: str
    extension: str
    priority: int


@dataclass(frozen=True)
class Hangup:
    channel_id: str
    reason: str = "normal"


@dataclass(frozen=True)
class DestroyBridge:
    bridge_id: str


@dataclass(frozen=True)
class Finish:
    pass


Command = (
    Ring | Survey | RingAgent | Connect | StartTimer | PlayPrompt | ContinueInDialplan | Hangup | DestroyBridge
    | Finish | control.Command | supervise.Command | xfer.Command
)


def transition(state: InboundState, event: Event) -> tuple[InboundState, list[Command]]:
    spec, phase, group = state.spec, state.phase, state.spec.group
    if phase is Phase.ENDED:
        return state, []
    if isinstance(event, in_call.EVENTS):
        return in_call.transition(state, event, IN_CALL)

    match event:
        case Start(at) if phase is Phase.NEW:
            customer = replace(state.customer, created_at=at, ringing=True, ringing_at=at,
                               sip_call_id=spec.sip_call_id or None)
            state = replace(state, customer=customer,
                            step=Step.STICKY if group.sticky_days else Step.GROUP)
            return state, [Ring(spec.channel), StartTimer(TOTAL, group.timeout),
                           Survey(group, spec.caller, sticky=bool(group.sticky_days and spec.caller))]

        case Resumed(at) if phase in (Phase.NEW, Phase.RINGING):
            left = max(0.0, state.created_at + group.timeout - at)
            more = [] if state.alive_agents() else [Survey(group, spec.caller, sticky=False)]
            return replace(state, phase=Phase.RINGING, step=Step.GROUP), [StartTimer(TOTAL, left), *more]

        case Surveyed(available, sticky, at) if phase in (Phase.NEW, Phase.RINGING) and not state.alive_agents():
            return _ring_next(replace(state, phase=Phase.RINGING), available, sticky, at)

        case AgentRinging(i, at, sip) if i < len(state.agents) and state.agents[i].alive \
                and not state.agents[i].ringing:
            return state.with_agent(i, ringing=True, ringing_at=at, sip_call_id=sip or None), []

        case AgentAnswered(i, at, sip) if i < len(state.agents) and state.agents[i].alive:
            if phase is not Phase.RINGING:  # a second agent answered just after the first: too late
                return state, [Hangup(spec.agent_channel(i))]
            state = state.with_agent(i, answered=True, answered_at=at,
                                     sip_call_id=sip or state.agents[i].sip_call_id)
            state = replace(state, phase=Phase.CONNECTED, answered_by=i)
            others = [Hangup(spec.agent_channel(j)) for j in state.alive_agents() if j != i]
            return state, [*others, Connect(spec, i)]

        case Connected(at) if phase is Phase.CONNECTED and not state.customer.answered:
            return replace(state, customer=replace(state.customer, answered=True, answered_at=at)), []

        case ConnectFailed() if phase is Phase.CONNECTED:
            state = replace(state, failed=True, hangup_by=state.hangup_by or HangupBy.SYSTEM)
            return _end(state)

        case AgentGone(i, cause, cause_txt, at) if i < len(state.agents) and state.agents[i].alive:
            state = state.with_agent(i, gone=True, cause=cause, cause_txt=cause_txt, ended_at=at)
            if i == state.answered_by and phase is Phase.CONNECTED:
                return _party_left(state, Party.AGENT, spec.agent_channel(i), at)
            if phase is Phase.ENDING:
                return _end(state)
            if phase is Phase.RINGING and not state.alive_agents():
                if state.step is Step.STICKY or group.strategy is not RingStrategy.RINGALL:
                    return replace(state, step=Step.GROUP), [Survey(group, spec.caller, sticky=False)]
                return _unanswered(state)
            return state, []

        case CustomerGone(cause, cause_txt, at, by) if state.customer.alive:
            customer = replace(state.customer, gone=True, cause=cause, cause_txt=cause_txt, ended_at=at)
            if phase is Phase.CONNECTED and state.transfers.history:
                return _party_left(replace(state, customer=customer), Party.CUSTOMER, spec.channel, at)
            hangup_by = state.hangup_by or by or (HangupBy.CUSTOMER if phase in (Phase.NEW, Phase.RINGING,
                                                                                Phase.CONNECTED) else None)
            return _end(replace(state, customer=customer, hangup_by=hangup_by))

        case TimerFired(name) if name == TOTAL and phase in (Phase.NEW, Phase.RINGING):
            return _unanswered(state)

        case PromptDone() if phase is Phase.UNANSWERED:
            return _end(state)

        case HangupRequested(by) if phase is not Phase.ENDING:
            return _end(replace(state, hangup_by=state.hangup_by or by))

    return state, []


def _xctx(state: InboundState, event=None) -> xfer.Context:
    spec = state.spec
    # The target sees the caller's number; an external number sees the hotline the caller dialled.
    external = isinstance(event, xfer.TransferRequested) and bool(event.phone) or bool(
        (x := state.transfers.current) and x.phone)
    cid = in_call.caller_id(None, spec.hotline) if external else \
        in_call.caller_id(spec.caller_name or None, spec.caller or "anonymous")
    i = state.answered_by
    originals = {Party.AGENT: spec.agent_channel(i) if i is not None else "", Party.CUSTOMER: spec.channel}
    alive = {Party.AGENT: i is not None and state.agents[i].alive, Party.CUSTOMER: state.customer.alive}
    connected = state.phase is Phase.CONNECTED and state.customer.answered and i is not None
    return in_call.context(state, spec.call_id, spec.bridge_id, originals, alive, connected, spec.trunk, cid,
                           spec.group.ring_seconds)


def _party_left(state: InboundState, party: Party, channel: str, at: float) -> tuple[InboundState, list[Command]]:
    """The connected call's agent or caller leg ended (marked gone already): the call ends, unless the leg was
    transferred away or a transfer under way goes on without it."""
    if in_call.not_current(state, party, channel):
        return _settled(state)
    return in_call.party_left(state, IN_CALL, party, at)


def _ended_by(state: InboundState, party: Party) -> tuple[InboundState, list[Command]]:
    return _end(replace(state, hangup_by=state.hangup_by or HangupBy(party)))


def _settled(state: InboundState) -> tuple[InboundState, list[Command]]:
    if state.phase is Phase.ENDING:
        return _end(state)
    return state, []


IN_CALL = in_call.Flow(context=_xctx, agent_ext=lambda state: state.answered_ext, ended_by=_ended_by,
                       settled=_settled)


def _ring_next(state: InboundState, available: tuple[Available, ...], sticky: str | None,
               at: float) -> tuple[InboundState, list[Command]]:
    group = state.spec.group
    if state.step is Step.STICKY:
        if sticky and any(a.ext == sticky for a in available):
            return _ring(state, [sticky], group.sticky_seconds, at)
        state = replace(state, step=Step.GROUP)
    if group.strategy is RingStrategy.RINGALL:  # everyone at once (the sticky agent too, once it rang alone)
        return _ring(state, [a.ext for a in available], group.timeout, at) if available else _unanswered(state)
    left = [a for a in available if a.ext not in state.tried()]  # each rung once, within the timeout
    if not left:
        return _unanswered(state)
    if group.strategy is RingStrategy.LONGEST_IDLE:
        # never on a call since registering first, then the longest idle; ties in the group's order
        left = sorted(left, key=lambda a: (a.idle_since is not None, a.idle_since or 0.0))
    return _ring(state, [left[0].ext], group.ring_seconds, at)


def _ring(state: InboundState, extensions: list[str], seconds: int, at: float) -> tuple[InboundState, list[Command]]:
    # A leg rings no longer than the call's timeout leaves (the timer ends the call then anyway).
    timeout = max(1, min(seconds, round(state.created_at + state.spec.group.timeout - at)))
    first = len(state.agents)
    legs = tuple(AgentLeg(ext=ext, created=True, created_at=at) for ext in extensions)
    state = replace(state, agents=state.agents + legs)
    return state, [RingAgent(state.spec, first + n, ext, timeout) for n, ext in enumerate(extensions)]


def _unanswered(state: InboundState) -> tuple[InboundState, list[Command]]:
    """Nobody answered: stop the agents' legs; the caller is hung up (after the prompt) or continues."""
    spec, group = state.spec, state.spec.group
    stop = [Hangup(spec.agent_channel(i)) for i in state.alive_agents()]
    state = replace(state, phase=Phase.UNANSWERED)
    if group.no_answer is NoAnswer.CONTINUE and group.continue_to:
        context, extension, priority = group.continue_to
        return state, [*stop, ContinueInDialplan(spec.channel, context, extension, priority)]
    if group.prompt:
        return state, [*stop, PlayPrompt(spec.channel, group.prompt)]
    return _end(state, reason="no_answer")


def _end(state: InboundState, reason: str = "normal") -> tuple[InboundState, list[Command]]:
    """Hang up what is still up; the call ends when the last channel is gone."""
    state, drops = in_call.end_supervision(state, _xctx(state), state.customer.ended_at or 0.0)
    if drops:
        state, more = _end(state, reason)
        return state, [*drops, *more]
    spec = state.spec
    channels = [spec.agent_channel(i) for i in state.alive_agents()]
    if state.customer.alive:
        channels.append(spec.channel)
    channels += in_call.alive_targets(state.transfers, spec.call_id)
    if not channels:
        cleanup = [DestroyBridge(spec.bridge_id)] if state.answered_by is not None else []
        return replace(state, phase=Phase.ENDED), [*cleanup, Finish()]
    if state.phase is Phase.ENDING:
        return state, []  # the hang-ups are on their way
    commands = [Hangup(c, reason if c == spec.channel else "normal") for c in channels]
    return replace(state, phase=Phase.ENDING), commands


def resync(state: InboundState, channels: dict[str, str], at: float) -> list[Event]:
    """After a reconnect (nothing is replayed): the events missed, from the channels Asterisk has now."""
    spec, out = state.spec, []
    for i in state.alive_agents():
        now = channels.get(spec.agent_channel(i))
        if now is None:
            out.append(AgentGone(i, q850.NETWORK_OUT_OF_ORDER, "vanished while ARI was disconnected", at))
        elif now == "Up" and state.phase is Phase.RINGING:
            out.append(AgentAnswered(i, at))
    if state.customer.alive and spec.channel not in channels:
        out.append(CustomerGone(q850.NETWORK_OUT_OF_ORDER, "vanished while ARI was disconnected", at,
                                by=HangupBy.SYSTEM))
    return out + in_call.resync_targets(state.transfers, spec.call_id, channels, at)


def final_status(state: InboundState) -> CallStatus:
    if state.answered_by is not None and state.customer.answered:
        return CallStatus.ANSWERED
    if state.failed:
        return CallStatus.FAILED
    if state.hangup_by == HangupBy.CUSTOMER:
        return CallStatus.CANCELLED  # the caller hung up while the agents rang
    return CallStatus.NO_ANSWER
