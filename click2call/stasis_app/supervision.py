"""Supervision of a connected call, pure: a supervisor's extension is rung; once it answers it listens (hears both
parties, nobody hears it), whispers (only the agent hears it) or barges (all three hear each other). Asking again for
a supervisor already on the call switches its mode at once, without a new ring; its hanging up ends only its part.

How, in ARI terms: listening and whispering supervisors sit in a mixing bridge of their own with a snoop on the
agent's channel (spy both: what the agent hears and says; whisper out: what the supervisor says goes to the agent
only); a barging one joins the call's bridge. A mode switch swaps the snoop, or moves the supervisor between bridges.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from ..states import CallAction, Party
from . import controls as control
from . import ids
from .legs import Leg


@dataclass(frozen=True)
class Supervisor(Leg):
    ext: str = ""
    mode: CallAction = CallAction.LISTEN
    snoop: int | None = None  # the serial of its snoop (listening, whispering once answered)


@dataclass(frozen=True)
class Supervision:
    supervisors: tuple[Supervisor, ...] = ()
    snoops: int = 0  # snoops made so far: each gets the next serial (a snoop's id is never reused)

    def alive(self) -> list[int]:
        return [i for i, s in enumerate(self.supervisors) if s.alive]

    def with_supervisor(self, index: int, **changes) -> "Supervision":
        supervisors = list(self.supervisors)
        supervisors[index] = replace(supervisors[index], **changes)
        return replace(self, supervisors=tuple(supervisors))


@dataclass(frozen=True)
class Room:
    """Where a call's supervision happens: the call, its bridge and the agent's channel (the one snooped on)."""

    call_id: str
    bridge_id: str
    agent_channel: str


# ---- events ----


@dataclass(frozen=True)
class SuperviseRequested:
    mode: CallAction
    ext: str
    by: str = ""
    at: float = 0.0
    ref: int = 0


@dataclass(frozen=True)
class SupervisorRinging:
    index: int
    at: float = 0.0
    sip_call_id: str = ""


@dataclass(frozen=True)
class SupervisorAnswered:
    index: int
    at: float = 0.0
    sip_call_id: str = ""


@dataclass(frozen=True)
class SupervisorGone:
    index: int
    cause: int = 0
    cause_txt: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class SnoopReady:
    """A snoop channel entered the app: it can join its supervisor's bridge."""

    serial: int


Event = SuperviseRequested | SupervisorRinging | SupervisorAnswered | SupervisorGone | SnoopReady

# ---- commands ----


@dataclass(frozen=True)
class RingSupervisor:
    call_id: str
    index: int
    ext: str
    caller: str  # the agent's extension: what the supervisor's phone shows


@dataclass(frozen=True)
class Snoop:
    """A snoop on the agent's channel, into the app: spy both; whisper out when the supervisor whispers."""

    agent_channel: str
    channel: str
    whisper: bool


@dataclass(frozen=True)
class OpenRoom:
    """The supervisor's own mixing bridge (a no-op if it exists)."""

    bridge_id: str


@dataclass(frozen=True)
class Drop:
    """Hang up a supervisor's leg or a snoop."""

    channel: str


@dataclass(frozen=True)
class CloseRoom:
    bridge_id: str


@dataclass(frozen=True)
class Announce:
    """A supervisor has joined the call: the agent's channel, which hears a short beep if the operator wants agents
    told (C2C_SUPERVISION_BEEP; the edge decides)."""

    agent_channel: str


Command = RingSupervisor | Snoop | OpenRoom | Drop | CloseRoom | Announce


def supervisor_channel(call_id: str, index: int) -> str:
    return ids.numbered(call_id, ids.SUPERVISOR_PREFIX, index)


def snoop_channel(call_id: str, serial: int) -> str:
    return ids.numbered(call_id, ids.SNOOP_PREFIX, serial)


def request(sup: Supervision, connected: bool, asked: SuperviseRequested, room: Room, caller: str
            ) -> tuple[Supervision, control.Action | None, list]:
    """A listen / whisper / barge request: ring a new supervisor, or switch one already on the call."""
    if not connected:
        return sup, None, [control.Reply(asked.ref, "CALL_NOT_CONNECTED")]
    done = control.Action(asked.mode, Party.AGENT, asked.at, asked.by, ext=asked.ext)
    found = next((i for i in sup.alive() if sup.supervisors[i].ext == asked.ext), None)
    if found is None:
        index = len(sup.supervisors)
        sup = replace(sup, supervisors=sup.supervisors + (
            Supervisor(ext=asked.ext, mode=asked.mode, created=True, created_at=asked.at),))
        return sup, done, [RingSupervisor(room.call_id, index, asked.ext, caller), control.Reply(asked.ref)]
    current = sup.supervisors[found]
    if current.mode is asked.mode:
        return sup, None, [control.Reply(asked.ref)]  # already so: nothing to do
    sup = sup.with_supervisor(found, mode=asked.mode)
    if not current.answered:
        return sup, done, [control.Reply(asked.ref)]  # it takes that mode when it answers
    sup, commands = _leave(sup, found, current, room)
    in_room = current.mode is not CallAction.BARGE and asked.mode is not CallAction.BARGE
    sup, more = _join(sup, found, room, in_room)
    # Into the call's bridge first, then its own bridge goes (made again if it listens again): a bridge destroyed
    # while its channel is being moved out can leave the channel in neither.
    closing = [CloseRoom(ids.supervision_bridge_id(room.call_id, found))] \
        if asked.mode is CallAction.BARGE and current.mode is not CallAction.BARGE else []
    return sup, done, [*commands, *more, *closing, control.Reply(asked.ref)]


def on_event(sup: Supervision, connected: bool, event: Event, room: Room) -> tuple[Supervision, list]:
    match event:
        case SupervisorRinging(i, at, sip) if i < len(sup.supervisors) and sup.supervisors[i].alive:
            return sup.with_supervisor(i, ringing=True, ringing_at=at, sip_call_id=sip or None), []
        case SupervisorAnswered(i, at, sip) if i < len(sup.supervisors) and sup.supervisors[i].alive \
                and not sup.supervisors[i].answered:
            sup = sup.with_supervisor(i, answered=True, answered_at=at,
                                      sip_call_id=sip or sup.supervisors[i].sip_call_id)
            if not connected:  # the call is ending: nothing to supervise
                return sup, [Drop(supervisor_channel(room.call_id, i))]
            sup, commands = _join(sup, i, room)
            return sup, [*commands, Announce(room.agent_channel)]
        case SnoopReady(serial):
            owner = next((i for i in sup.alive() if sup.supervisors[i].snoop == serial), None)
            if owner is None:  # a snoop of a mode already left
                return sup, [Drop(snoop_channel(room.call_id, serial))]
            return sup, [control.Rebridge(ids.supervision_bridge_id(room.call_id, owner),
                                          snoop_channel(room.call_id, serial))]
        case SupervisorGone(i, cause, cause_txt, at) if i < len(sup.supervisors) and sup.supervisors[i].alive:
            current = sup.supervisors[i]
            sup = sup.with_supervisor(i, gone=True, cause=cause, cause_txt=cause_txt, ended_at=at, snoop=None)
            commands = [Drop(snoop_channel(room.call_id, current.snoop))] if current.snoop is not None else []
            return sup, [*commands, CloseRoom(ids.supervision_bridge_id(room.call_id, i))]
    return sup, []


def ending(sup: Supervision, room: Room, at: float) -> tuple[Supervision, list]:
    """The call ends: every supervisor's part ends with it (their later hang-ups find the call gone)."""
    commands: list = []
    for i in sup.alive():
        current = sup.supervisors[i]
        commands.append(Drop(supervisor_channel(room.call_id, i)))
        if current.snoop is not None:
            commands.append(Drop(snoop_channel(room.call_id, current.snoop)))
        commands.append(CloseRoom(ids.supervision_bridge_id(room.call_id, i)))
        sup = sup.with_supervisor(i, gone=True, ended_at=at, snoop=None)
    return sup, commands


def _join(sup: Supervision, i: int, room: Room, in_room: bool = False) -> tuple[Supervision, list]:
    """An answered supervisor into its mode: the call's bridge (barge), or its own with a fresh snoop (`in_room`: it
    is in its own bridge already, listening or whispering: only the snoop changes)."""
    channel = supervisor_channel(room.call_id, i)
    if sup.supervisors[i].mode is CallAction.BARGE:
        return sup, [control.Rebridge(room.bridge_id, channel)]
    serial = sup.snoops
    sup = replace(sup.with_supervisor(i, snoop=serial), snoops=serial + 1)
    bridge = ids.supervision_bridge_id(room.call_id, i)
    whisper = sup.supervisors[i].mode is CallAction.WHISPER
    enter = [] if in_room else [OpenRoom(bridge), control.Rebridge(bridge, channel)]
    return sup, [*enter, Snoop(room.agent_channel, snoop_channel(room.call_id, serial), whisper)]


def _leave(sup: Supervision, i: int, was: Supervisor, room: Room) -> tuple[Supervision, list]:
    """Out of the mode it was in (before joining another)."""
    channel = supervisor_channel(room.call_id, i)
    if was.mode is CallAction.BARGE:
        return sup, [control.Unbridge(room.bridge_id, channel)]
    sup = sup.with_supervisor(i, snoop=None)
    return sup, [Drop(snoop_channel(room.call_id, was.snoop))] if was.snoop is not None else []


def joined_json(sup: Supervision) -> str | None:
    """The supervisors' legs as a record keeps them (JSON); None for none."""
    return json.dumps([asdict(x) for x in sup.supervisors], separators=(",", ":")) if sup.supervisors else None


def joined_of(text: str | None) -> Supervision:
    if not text or text == "[]":
        return Supervision((), 0)
    supervisors = tuple(Supervisor(**{**x, "mode": CallAction(x["mode"])}) for x in json.loads(text or "[]"))
    snoops = max((x.snoop + 1 for x in supervisors if x.snoop is not None), default=0)
    return Supervision(supervisors, snoops)
