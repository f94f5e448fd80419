"""Transfer and park on a connected call, pure: the state machine both call flows (call_flow, inbound_flow) hand
their transfer events to, in the style of controls.py. Its commands run at the edge (stasis_app.commands); the
recipes are proven by hand on the real Asterisk in tests/lab/test_transfer_kit.py.

- blind: the other party's leg is hung up at once; the target leg `<call_id>.transfer-<n>` is created in the app,
  put in the call's bridge and dialled, so the moving party hears its ringback (Asterisk's ring tone of a 180, or
  its early media), then the target. The target failing ends the call (nobody is left to go back to).
- attended: the target is dialled outside the bridge while the two parties talk on (or, with hold, the moving party
  hears music on hold, out of the bridge); answered: the other party's leg is hung up, the moving party (music
  off) and the target are bridged; declined, busy or unanswered: nothing changed, the two talk on. The other party
  hanging up while the target rings turns it into a blind transfer (the target joins the bridge, ringback).
- a blind REFER from the agent's phone (ChannelTransfer; the agent leg has PJSIP_TRANSFER_HANDLING()=ari-only):
  a blind transfer of the customer, except that the agent's leg only leaves the bridge until the outcome, which the
  phone is told with transfer_progress (its NOTIFY); it is hung up on success, and back with the customer on failure.
- park: the other party's leg is hung up, the parked one leaves the bridge and hears music on hold until a transfer
  of it (same call_id, its side) picks it up, or the park timer hangs it up.

Once the target answered it takes the place of the party that left: `Transfers.replaced` maps that party to the
target's channel, and the flow sends the party's later commands (hold, mute, hang-up...) there. The legs ended on
purpose (`retired`) do not end the call.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

from .. import q850
from ..states import CallAction, Party, Side
from . import controls as control

PARK_TIMER = "park"
TRANSFER_PREFIX = "transfer-"  # a target's leg: <call_id>.transfer-<n>, n counting from 1 within the call


class Mode(StrEnum):
    BLIND = "blind"
    ATTENDED = "attended"


class Status(StrEnum):
    """A transfer's outcome, as the record and the `transfer` webhook say it."""

    STARTED = "started"
    ANSWERED = "answered"
    FAILED = "failed"


class Progress(StrEnum):
    """ARI transfer_progress states: what a REFERring phone is told (its NOTIFY's sipfrag)."""

    TRYING = "channel_progress"  # 100 Trying (Asterisk sends it deferred, with the first progress)
    ANSWERED = "channel_answered"  # 200 OK, subscription terminated
    DECLINED = "channel_declined"  # 603 Decline, terminated
    UNAVAILABLE = "channel_unavailable"  # 503 Service Unavailable, terminated


def other(party: Party) -> Party:
    return Party.CUSTOMER if party is Party.AGENT else Party.AGENT


def target_channel(call_id: str, n: int) -> str:
    return f"{call_id}.{TRANSFER_PREFIX}{n}"


def target_index(leg: str) -> int | None:
    """transfer-N -> N; None for any other leg."""
    number = leg[len(TRANSFER_PREFIX):]
    return int(number) if leg.startswith(TRANSFER_PREFIX) and number.isascii() and number.isdigit() else None


@dataclass(frozen=True)
class Transfer:
    """One transfer (or a park's pick-up), as the record keeps it."""

    n: int
    mode: Mode
    moving: Party  # the party that goes on with the target (legs: bleg -> customer)
    ext: str = ""  # the target: an extension, or
    phone: str = ""  # an external number (through the call's trunk)
    hold: bool = False
    refer: bool = False  # asked by the agent's phone (a REFER), not the API
    by: str = ""  # the API token's tenant ("" the operator's), or "phone"
    status: Status = Status.STARTED
    started_at: float = 0.0
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None  # failed, or its leg ended after the answer
    cause: int | None = None
    cause_txt: str | None = None
    created: bool = False  # its channel exists (TargetReady)

    @property
    def target(self) -> str:
        return self.ext or self.phone

    @property
    def legs(self) -> Side:
        return Side.BLEG if self.moving is Party.CUSTOMER else Side.ALEG


@dataclass(frozen=True)
class Transfers:
    count: int = 0  # transfer legs created so far (the next is count + 1)
    active: int | None = None  # n of the transfer under way
    history: tuple[Transfer, ...] = ()  # every transfer, in order
    parked: Party | None = None
    parked_at: float | None = None  # when (the park timer runs from it)
    replaced: tuple[tuple[Party, str], ...] = ()  # (party, channel) that took a party's place, latest last
    retired: frozenset[str] = frozenset()  # channels hung up (or left alone) on purpose: their end is not the call's

    def get(self, n: int) -> Transfer | None:
        return next((t for t in self.history if t.n == n), None)

    @property
    def current(self) -> Transfer | None:
        return self.get(self.active) if self.active is not None else None

    def channel_of(self, party: Party, original: str) -> str:
        """The channel that is `party` now: the latest target that took its place, else its own."""
        return next((c for p, c in reversed(self.replaced) if p is party), original)

    def party_of(self, channel: str) -> Party | None:
        """The party a target's channel became once answered (None: not a target in the call)."""
        return next((p for p, c in reversed(self.replaced) if c == channel), None)

    def with_transfer(self, t: Transfer) -> "Transfers":
        return replace(self, history=tuple(t if x.n == t.n else x for x in self.history))


@dataclass(frozen=True)
class Context:
    """What the flow knows that a transfer needs (the channels are the parties' current ones)."""

    call_id: str
    connected: bool  # both parties up, the customer answered, the call not ending
    bridge: str
    channels: dict[Party, str]
    trunk: str  # for an external number
    caller_id: str  # what the target sees: `"name" <number>` (the hotline's for an external number)
    ring_timeout: int
    held: frozenset[Party] = frozenset()  # controls: held parties (out of the bridge, MOH)


# ---- events ----


@dataclass(frozen=True)
class TransferRequested:
    """From the API (ref: the waiter) or a REFER (refer=True: the answer is transfer_progress to the agent's phone)."""

    mode: Mode
    legs: Side
    ext: str = ""
    phone: str = ""
    hold: bool = False
    by: str = ""
    at: float = 0.0
    ref: int = 0
    refer: bool = False


@dataclass(frozen=True)
class ParkRequested:
    legs: Side
    by: str = ""
    at: float = 0.0
    ref: int = 0


@dataclass(frozen=True)
class TargetReady:
    """The created target channel entered the app (its StasisStart, at once): it can be bridged and dialled."""

    n: int


@dataclass(frozen=True)
class TargetRinging:
    n: int
    at: float = 0.0


@dataclass(frozen=True)
class TargetAnswered:
    n: int
    at: float = 0.0


@dataclass(frozen=True)
class TargetGone:
    n: int
    cause: int
    cause_txt: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class TargetFailed:
    """Creating, bridging or dialling the target failed at the ARI level."""

    n: int
    message: str
    channel_exists: bool = False


@dataclass(frozen=True)
class PartyGone:
    """A party's current leg ended (the flow's own ChannelGone, told to the transfer first)."""

    party: Party
    at: float = 0.0


@dataclass(frozen=True)
class ParkTimeout:
    pass


@dataclass(frozen=True)
class PhoneTransfer:
    """A phone's REFER (ARI's ChannelTransfer, first event, no `state`): from the channel `source`, to `destination`
    (the Refer-To's user part); `attended` when it replaces another dialog (refused for now)."""

    source: str
    destination: str
    attended: bool = False


@dataclass(frozen=True)
class CheckTarget:
    """Check a REFER's destination as the API checks an extension; TransferRequested(refer=True) follows, or the
    phone is told UNAVAILABLE."""

    destination: str
    agent_channel: str


Event = (TransferRequested | ParkRequested | TargetReady | TargetRinging | TargetAnswered | TargetGone | TargetFailed
         | PartyGone | ParkTimeout)


# ---- commands ----


@dataclass(frozen=True)
class CreateTarget:
    """POST /channels/create (endpoint, app, channelId): TargetReady follows (its StasisStart)."""

    n: int
    channel: str
    endpoint: str  # PJSIP/<ext>, or PJSIP/<phone>@<trunk>
    caller_id: str  # set on the connected line before the dial (From / P-Asserted-Identity)


@dataclass(frozen=True)
class DialTarget:
    """Optionally into the bridge first (the moving party hears the ringback), then the connected line, then dial."""

    n: int
    channel: str
    caller_id: str
    timeout: int
    bridge: str | None = None


@dataclass(frozen=True)
class Bridge:
    bridge: str
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Unbridge:
    bridge: str
    channel: str


@dataclass(frozen=True)
class Moh:
    channel: str
    on: bool


@dataclass(frozen=True)
class Hangup:
    channel: str


@dataclass(frozen=True)
class TransferProgress:
    """POST /channels/{agent}/transfer_progress?states=...: the REFERring phone's NOTIFY."""

    channel: str
    state: Progress


@dataclass(frozen=True)
class StartTimer:
    """The park timer: its length is C2C_PARK_TIMEOUT, the edge's setting."""

    name: str


@dataclass(frozen=True)
class CancelTimer:
    name: str


Command = (CreateTarget | DialTarget | Bridge | Unbridge | Moh | Hangup | TransferProgress | StartTimer | CancelTimer
           | CheckTarget | control.Reply)

# Refusals (409s, nothing changes; a REFER's is transfer_progress channel_unavailable)
NOT_CONNECTED = "CALL_NOT_CONNECTED"  # the customer has not answered, or the call is ending
IN_PROGRESS = "TRANSFER_IN_PROGRESS"  # another transfer's target is ringing
PARTY_HELD = "PARTY_HELD"  # the party to move is on hold (unhold it first)
ALREADY_PARKED = "ALREADY_PARKED"
CALL_PARKED = "CALL_PARKED"  # parked: only a transfer of the parked party (its side) picks it up


def apply(t: Transfers, ctx: Context, event: Event) -> tuple[Transfers, list[Command]]:
    match event:
        case TransferRequested() as request:
            return _requested(t, ctx, request)
        case ParkRequested() as request:
            return _park(t, ctx, request)
        case TargetReady(n) if n == t.active and (x := t.current) and not x.created:
            t = t.with_transfer(replace(x, created=True))
            into = ctx.bridge if x.mode is Mode.BLIND else None
            commands: list[Command] = [DialTarget(n, target_channel(ctx.call_id, n), ctx.caller_id,
                                                  ctx.ring_timeout, into)]
            return t, commands
        case TargetRinging(n, at) if n == t.active and (x := t.current) and x.ringing_at is None:
            return t.with_transfer(replace(x, ringing_at=at)), []
        case TargetAnswered(n, at) if n == t.active and (x := t.current):
            return _answered(t, ctx, x, at)
        case TargetGone(n, cause, cause_txt, at) if n == t.active and (x := t.current):
            return _failed(t, ctx, x, cause, cause_txt or q850.name(cause), at)
        case TargetFailed(n, message, exists) if n == t.active and (x := t.current):
            t, commands = _failed(t, ctx, x, q850.NETWORK_OUT_OF_ORDER, message[:64], 0.0)
            if exists:
                commands.insert(0, Hangup(target_channel(ctx.call_id, n)))
            return t, commands
        case TargetGone(n, cause, cause_txt, at) if (x := t.get(n)) and x.status is Status.ANSWERED \
                and x.ended_at is None:
            return t.with_transfer(replace(x, ended_at=at, cause=cause, cause_txt=cause_txt)), []
        case PartyGone(party, at):
            return _party_gone(t, ctx, party, at)
        case ParkTimeout() if t.parked is not None:
            return t, [Hangup(ctx.channels[t.parked])]
    return t, []


def phone_transfer(t: Transfers, ctx: Context, event: PhoneTransfer) -> list[Command]:
    """A REFER from the agent's phone: its destination to check (then a blind transfer of the customer), or refused
    at once (not the agent's current leg, an attended REFER, or the call not in a state to transfer)."""
    agent = ctx.channels[Party.AGENT]
    if event.source != agent:
        return []
    if t.current is not None and (t.current.refer or agent in t.retired):
        # This phone's transfer is under way, or its leg is let go: the same REFER again (Asterisk 22 repeats the
        # event when the phone hangs up right after the 202, lab-proven); refusing it would end the first one's
        # NOTIFYs, and a leg let go has nobody to tell.
        return []
    if event.attended or not event.destination or t.active is not None or t.parked is not None or not ctx.connected:
        return [TransferProgress(agent, Progress.UNAVAILABLE)]
    return [CheckTarget(event.destination, agent)]


def survives(t: Transfers, party: Party) -> bool:
    """Whether the call goes on without this party's leg: it was hung up on purpose (blind, park) or left while the
    target rings (an attended transfer becomes blind)."""
    x = t.current
    return t.parked is other(party) or (x is not None and x.moving is not party)


def _refuse(request: TransferRequested | ParkRequested, ctx: Context, error: str) -> list[Command]:
    if isinstance(request, TransferRequested) and request.refer:
        return [TransferProgress(ctx.channels[Party.AGENT], Progress.UNAVAILABLE)]
    return [control.Reply(request.ref, error)]


def _requested(t: Transfers, ctx: Context, request: TransferRequested) -> tuple[Transfers, list[Command]]:
    moving = request.legs.party
    if t.active is not None:
        return t, _refuse(request, ctx, IN_PROGRESS)
    if t.parked is not None and t.parked is not moving:
        return t, _refuse(request, ctx, CALL_PARKED)
    if t.parked is None and not ctx.connected:
        return t, _refuse(request, ctx, NOT_CONNECTED)
    if moving in ctx.held:
        return t, _refuse(request, ctx, PARTY_HELD)
    n = t.count + 1
    picking_up = t.parked is not None
    # A pick-up rings the target outside the bridge: the parked party keeps its music until the answer.
    mode = Mode.ATTENDED if picking_up else request.mode
    x = Transfer(n, mode, moving, request.ext, request.phone, request.hold and mode is Mode.ATTENDED and not picking_up,
                 request.refer, "phone" if request.refer else request.by, started_at=request.at)
    t = replace(t, count=n, active=n, history=t.history + (x,))
    leaving = ctx.channels[other(moving)]
    commands: list[Command] = []
    if request.refer:
        # The phone hears 100 Trying now; its leg leaves the bridge but stays up until it is told the outcome.
        commands += [TransferProgress(leaving, Progress.TRYING), Unbridge(ctx.bridge, leaving)]
    elif mode is Mode.BLIND:
        commands.append(Hangup(leaving))
        t = replace(t, retired=t.retired | {leaving})
    if x.hold:
        commands += [Unbridge(ctx.bridge, ctx.channels[moving]), Moh(ctx.channels[moving], True)]
    endpoint = f"PJSIP/{x.phone}@{ctx.trunk}" if x.phone else f"PJSIP/{x.ext}"
    commands.append(CreateTarget(n, target_channel(ctx.call_id, n), endpoint, ctx.caller_id))
    if not request.refer:
        commands.append(control.Reply(request.ref))  # started; the outcome is the `transfer` webhook's
    return t, commands


def _park(t: Transfers, ctx: Context, request: ParkRequested) -> tuple[Transfers, list[Command]]:
    party = request.legs.party
    if t.parked is not None:
        return t, _refuse(request, ctx, ALREADY_PARKED)
    if t.active is not None:
        return t, _refuse(request, ctx, IN_PROGRESS)
    if not ctx.connected:
        return t, _refuse(request, ctx, NOT_CONNECTED)
    leaving, parked = ctx.channels[other(party)], ctx.channels[party]
    t = replace(t, parked=party, parked_at=request.at, retired=t.retired | {leaving})
    commands: list[Command] = [Hangup(leaving)]
    if party not in ctx.held:  # a held party is out of the bridge with its music already
        commands += [Unbridge(ctx.bridge, parked), Moh(parked, True)]
    return t, [*commands, StartTimer(PARK_TIMER), control.Reply(request.ref)]


def _answered(t: Transfers, ctx: Context, x: Transfer, at: float) -> tuple[Transfers, list[Command]]:
    target = target_channel(ctx.call_id, x.n)
    moving, leaving = ctx.channels[x.moving], ctx.channels[other(x.moving)]
    t = t.with_transfer(replace(x, status=Status.ANSWERED, answered_at=at))
    t = replace(t, active=None, replaced=t.replaced + ((other(x.moving), target),))
    commands: list[Command] = []
    if x.refer:
        commands += [TransferProgress(leaving, Progress.ANSWERED), Hangup(leaving)]
        t = replace(t, retired=t.retired | {leaving})
    elif x.mode is Mode.ATTENDED and t.parked is None:
        commands.append(Hangup(leaving))
        t = replace(t, retired=t.retired | {leaving})
    if t.parked is not None:  # a pick-up: the parked party's music stops, it joins the target
        commands += [CancelTimer(PARK_TIMER), Moh(moving, False), Bridge(ctx.bridge, (moving, target))]
        t = replace(t, parked=None, parked_at=None)
    elif x.hold:
        commands += [Moh(moving, False), Bridge(ctx.bridge, (moving, target))]
    elif x.mode is Mode.ATTENDED:
        commands.append(Bridge(ctx.bridge, (target,)))
    return t, commands  # blind: the target is in the bridge with the moving party already


def _failed(t: Transfers, ctx: Context, x: Transfer, cause: int, cause_txt: str, at: float
            ) -> tuple[Transfers, list[Command]]:
    moving, leaving = ctx.channels[x.moving], ctx.channels[other(x.moving)]
    t = t.with_transfer(replace(x, status=Status.FAILED, ended_at=at or None, cause=cause, cause_txt=cause_txt))
    t = replace(t, active=None)
    if x.refer:  # the phone is told, and its leg is back with the customer
        progress = Progress.DECLINED if cause in q850.BUSY or cause == q850.CALL_REJECTED else Progress.UNAVAILABLE
        return t, [TransferProgress(leaving, progress), Bridge(ctx.bridge, (leaving,))]
    if t.parked is not None:
        return t, []  # still parked: its music goes on until another pick-up or the timer
    if x.mode is Mode.BLIND:
        return t, [Hangup(moving)]  # nobody to go back to: the call ends
    if x.hold:
        return t, [Moh(moving, False), Bridge(ctx.bridge, (moving,))]
    return t, []  # attended: they were talking all along


def _party_gone(t: Transfers, ctx: Context, party: Party, at: float) -> tuple[Transfers, list[Command]]:
    x = t.current
    if x is None:
        return t, []
    target = target_channel(ctx.call_id, x.n)
    if party is x.moving:  # the party to move hung up: the transfer is over, and so is the call (the flow ends it)
        t = t.with_transfer(replace(x, status=Status.FAILED, ended_at=at, cause=q850.NORMAL_CLEARING,
                                    cause_txt=f"the {party} hung up"))
        return replace(t, active=None, retired=t.retired | {target}), [Hangup(target)] if x.created else []
    if x.refer and ctx.channels[party] not in t.retired:
        # The phone hung up after its REFER (some do, at the 202): nobody to tell or to go back to; a blind transfer.
        t = t.with_transfer(replace(x, refer=False))
        return replace(t, retired=t.retired | {ctx.channels[party]}), []
    if x.mode is Mode.ATTENDED and t.parked is None and ctx.channels[party] not in t.retired:
        # The agent hung up while the target rings: carry on as a blind transfer (the moving party hears the ring).
        t = t.with_transfer(replace(x, mode=Mode.BLIND, hold=False))
        moving = ctx.channels[x.moving]
        commands: list[Command] = [Moh(moving, False), Bridge(ctx.bridge, (moving,))] if x.hold else []
        if x.created:
            commands.append(Bridge(ctx.bridge, (target,)))
        return replace(t, retired=t.retired | {ctx.channels[party]}), commands
    return t, []


# ---- the record and the `transfer` webhook ----


def transfers_json(t: Transfers) -> str | None:
    """The transfers as the record keeps them (JSON); None for none."""
    if not t.history:
        return None
    return json.dumps([{**asdict(x), "legs": x.legs} for x in t.history], separators=(",", ":"))


def transfers_of(text: str | None) -> tuple[Transfer, ...]:
    if not text or text == "[]":
        return ()
    out = []
    for item in json.loads(text or "[]"):
        item.pop("legs", None)
        out.append(Transfer(**{**item, "mode": Mode(item["mode"]), "moving": Party(item["moving"]),
                               "status": Status(item["status"])}))
    return tuple(out)


def transferred_to(t: Transfers) -> str | None:
    """The last target that answered (the record's `transferred_to`)."""
    return next((x.target for x in reversed(t.history) if x.status is Status.ANSWERED), None)


def webhook_events(before: Transfers, after: Transfers) -> list[dict]:
    """The `transfer` webhook events a state change makes: started (accepted), answered, failed; in order."""
    out = []
    for x in after.history:
        was = before.get(x.n)
        if was is None:
            out.append(payload(x, Status.STARTED))
        if x.status is not Status.STARTED and (was is None or was.status is Status.STARTED):
            out.append(payload(x, x.status))
    return out


def payload(x: Transfer, status: Status) -> dict:
    body = {"transfer": x.n, "status": status, "mode": x.mode, "legs": x.legs, "hold": x.hold, "by": x.by}
    body.update({"ext": x.ext} if x.ext else {"phone": x.phone})
    if status is Status.ANSWERED:
        body["answered_at"] = x.answered_at
    elif status is Status.FAILED:
        body.update(cause=x.cause, cause_txt=x.cause_txt)
    return body



def park_left(t: Transfers, timeout: float, now: float) -> float | None:
    """Seconds left on the park timer of an adopted call (None: not parked)."""
    return None if t.parked is None else max(0.0, (t.parked_at or now) + timeout - now)


def replay(call_id: str, history: tuple[Transfer, ...], originals: dict[Party, str],
           actions: tuple[control.Action, ...] = ()) -> Transfers:
    """The transfers of a call adopted from its record, replayed in the order they happened with the call's parks
    (its actions): the answered targets in their parties' places, the legs let go on purpose, a park nobody picked
    up yet (and since when: its timer goes on), a started transfer still under way (its target's events, or the
    reconnect check, settle it). `originals`: the parties' own first channels."""
    t = Transfers(count=max((x.n for x in history), default=0), history=history)
    steps = [(x.started_at, 1, x) for x in history] + [
        (a.at, 0, a.party) for a in actions if a.action is CallAction.PARK]
    for at, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
        if isinstance(step, Party):  # a park: the other party left
            leaving = t.channel_of(other(step), originals[other(step)])
            t = replace(t, parked=step, parked_at=at, retired=t.retired | {leaving})
            continue
        x, leaving = step, t.channel_of(other(step.moving), originals[other(step.moving)])
        if x.mode is Mode.BLIND and not x.refer:
            t = replace(t, retired=t.retired | {leaving})
        if x.status is Status.STARTED:
            t = replace(t, active=x.n)
        elif x.status is Status.ANSWERED:
            if x.refer or (x.mode is Mode.ATTENDED and t.parked is None):
                t = replace(t, retired=t.retired | {leaving})
            t = replace(t, parked=None, parked_at=None,
                        replaced=t.replaced + ((other(x.moving), target_channel(call_id, x.n)),))
    return t
