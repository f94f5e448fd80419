"""What a connected call does, whichever flow placed it: controls (hold, mute, DTMF), supervision, transfers, park.

Both flows (click-to-call and inbound) hand these events to `transition(state, event, flow)`. `flow` is how that
flow's state looks from here: the transfer context (the parties' current channels, connected or not, the bridge, what
a target is shown), the agent's extension, how the call ends when a party leaves, and how an ending call settles.
The states of both flows have `phase`, `controls`, `actions`, `supervision` and `transfers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .. import q850
from ..states import CallAction, HangupBy, Party
from . import controls as control
from . import supervision as supervise
from . import transfers as xfer

EVENTS = (
    control.ControlRequested, control.ControlFailed, supervise.SuperviseRequested, supervise.SupervisorRinging,
    supervise.SupervisorAnswered, supervise.SupervisorGone, supervise.SnoopReady, xfer.PhoneTransfer,
    xfer.TransferRequested, xfer.ParkRequested, xfer.ParkTimeout, xfer.TargetReady, xfer.TargetRinging,
    xfer.TargetAnswered, xfer.TargetFailed, xfer.TargetGone,
)

Outcome = tuple[Any, list]  # (state, commands)


@dataclass(frozen=True)
class Flow:
    context: Callable[[Any, Any], xfer.Context]  # (state, event or None)
    agent_ext: Callable[[Any], str]
    ended_by: Callable[[Any, Party], Outcome]  # the call ends because this party left
    settled: Callable[[Any], Outcome]  # a leg that was not a party's went: an ending call may be over


def transition(state, event, flow: Flow) -> Outcome:
    """One of EVENTS on a call of either flow."""
    ctx = flow.context(state, event)
    match event:
        case control.ControlRequested() as request:
            controls, done, commands = control.apply(state.controls, ctx.connected, request,
                                                     ctx.channels[request.party], ctx.bridge)
            return replace(state, controls=controls, actions=state.actions + ((done,) if done else ())), commands
        case control.ControlFailed(request):
            return replace(state, controls=control.undo(state.controls, request)), []
        case supervise.SuperviseRequested():
            sup, done, commands = supervise.request(state.supervision, ctx.connected, event, room(ctx),
                                                    flow.agent_ext(state))
            return replace(state, supervision=sup, actions=state.actions + ((done,) if done else ())), commands
        case supervise.SupervisorRinging() | supervise.SupervisorAnswered() | supervise.SupervisorGone() \
                | supervise.SnoopReady():
            sup, commands = supervise.on_event(state.supervision, ctx.connected, event, room(ctx))
            return replace(state, supervision=sup), commands
        case xfer.PhoneTransfer():
            return state, xfer.phone_transfer(state.transfers, ctx, event)
        case xfer.TargetGone():
            return _target_gone(state, ctx, event, flow)
        case xfer.ParkTimeout() if state.transfers.parked is not None:
            state = replace(state, hangup_by=state.hangup_by or HangupBy.SYSTEM)  # nobody picked it up
    return transferred(state, ctx, event)


def party_left(state, flow: Flow, party: Party, at: float) -> Outcome:
    """A party's current leg ended: a transfer under way (or done) may go on without it; else the call ends."""
    commands: list = []
    if state.transfers.history:
        state, commands = transferred(state, flow.context(state, None), xfer.PartyGone(party, at))
        if xfer.survives(state.transfers, party):
            return state, commands
    state, more = flow.ended_by(state, party)
    return state, [*commands, *more]


def room(ctx: xfer.Context) -> supervise.Room:
    return supervise.Room(ctx.call_id, ctx.bridge, ctx.channels[Party.AGENT])


def caller_id(name: str | None, number: str) -> str:
    # Names were validated (no quotes, no angle brackets), so quoting is safe.
    return f'"{name}" <{number}>' if name else f"<{number}>"


def context(state, call_id: str, bridge: str, originals: dict[Party, str], original_alive: dict[Party, bool],
            connected: bool, trunk: str, cid: str, ring_timeout: int) -> xfer.Context:
    """The transfer context of a call whose parties' first legs are `originals`: `connected` is the flow's own
    word (answered, not ending), true only while each party's current leg is up."""
    t = state.transfers
    channels = {party: t.channel_of(party, channel) for party, channel in originals.items()}
    up = connected and all(_current_alive(t, channels[p], originals[p], original_alive[p]) for p in originals)
    return xfer.Context(call_id, up, bridge, channels, trunk, cid, ring_timeout, state.controls.held)


def transferred(state, ctx: xfer.Context, event) -> Outcome:
    """A transfer's request or event: its state changed, an accepted request in the call's actions, the commands."""
    before = state.transfers
    t, commands = xfer.apply(before, ctx, event)
    state = replace(state, transfers=t)
    if isinstance(event, xfer.TransferRequested) and t.count > before.count:
        x = t.get(t.count)
        state = replace(state, actions=state.actions + (
            control.Action(CallAction.TRANSFER, x.moving, event.at, x.by, ext=x.target),))
    elif isinstance(event, xfer.ParkRequested) and t.parked is not None and before.parked is None:
        state = replace(state, actions=state.actions + (control.Action(CallAction.PARK, t.parked, event.at, event.by),))
    return state, commands


def _target_gone(state, ctx: xfer.Context, event: xfer.TargetGone, flow: Flow) -> Outcome:
    """A target's leg ended: a transfer failed, or a target that had become a party hung up (that party left)."""
    channel = xfer.target_channel(ctx.call_id, event.n)
    party = state.transfers.party_of(channel)
    state, commands = transferred(state, ctx, event)
    if party is not None and channel not in state.transfers.retired and ctx.channels[party] == channel:
        state, more = party_left(state, flow, party, event.at)
    else:
        state, more = flow.settled(state)
    return state, [*commands, *more]


def not_current(state, party: Party, channel: str) -> bool:
    """A leg whose end is not the call's: hung up on purpose, or no longer the party's (a target took its place)."""
    t = state.transfers
    return channel in t.retired or t.channel_of(party, channel) != channel


def target_alive(x: xfer.Transfer) -> bool:
    """A target's channel is (or may be) up: created, ringing, or answered and not ended."""
    return x.created and (x.status is xfer.Status.STARTED or (x.status is xfer.Status.ANSWERED and x.ended_at is None))


def alive_targets(t: xfer.Transfers, call_id: str) -> list[str]:
    return [xfer.target_channel(call_id, x.n) for x in t.history if target_alive(x)]


def _current_alive(t: xfer.Transfers, channel: str, original: str, original_alive: bool) -> bool:
    """A party's current leg is up: its own, or the target that took its place."""
    if channel == original:
        return original_alive
    n = xfer.target_index(channel.rpartition(".")[2])
    x = t.get(n) if n is not None else None
    return x is not None and target_alive(x)


def resync_targets(t: xfer.Transfers, call_id: str, channels: dict[str, str], at: float) -> list:
    """After a reconnect: a target's leg that vanished meanwhile is gone; the one under way that is up answered."""
    out: list = []
    for x in t.history:
        channel = xfer.target_channel(call_id, x.n)
        now = channels.get(channel)
        if target_alive(x) and now is None:
            out.append(xfer.TargetGone(x.n, q850.NETWORK_OUT_OF_ORDER, "vanished while ARI was disconnected", at))
        elif x.n == t.active and now == "Up" and x.status is xfer.Status.STARTED:
            out.append(xfer.TargetAnswered(x.n, at))
    return out


def end_supervision(state, ctx: xfer.Context, at: float) -> Outcome:
    """The call is ending: its supervisors' parts end with it."""
    if not state.supervision.alive():
        return state, []
    sup, commands = supervise.ending(state.supervision, room(ctx), at)
    return replace(state, supervision=sup), commands
