"""Call control on a connected call, pure: hold, unhold, mute, unmute and DTMF for either party. Both call flows
(call_flow, inbound_flow) hand a ControlRequested to `apply` while they are connected; its commands run at the edge
(stasis_app.commands), and the request's waiter gets its Reply.

Hold takes the party out of the call's mixing bridge and plays it music on hold (the other party then hears nobody);
unhold stops the music and puts it back. Mute drops the party's audio on its way in, so the others stop hearing it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from ..states import CallAction, Party


@dataclass(frozen=True)
class Controls:
    held: frozenset[Party] = frozenset()
    muted: frozenset[Party] = frozenset()


@dataclass(frozen=True)
class Action:
    """One action done on the call, for its record."""

    action: CallAction
    party: Party
    at: float
    by: str  # who asked: the API token's tenant ("" the operator's), or "phone"
    digits: str = ""
    ext: str = ""  # the supervisor's extension (listen, whisper, barge)


@dataclass(frozen=True)
class ControlRequested:
    action: CallAction
    party: Party
    digits: str = ""
    by: str = ""
    at: float = 0.0
    ref: int = 0  # the waiter to answer (Reply)


@dataclass(frozen=True)
class ControlFailed:
    """An ARI request of an accepted control failed: take the change back."""

    request: ControlRequested
    message: str


# ---- commands ----


@dataclass(frozen=True)
class Unbridge:
    bridge_id: str
    channel: str


@dataclass(frozen=True)
class Rebridge:
    bridge_id: str
    channel: str


@dataclass(frozen=True)
class StartMoh:
    channel: str


@dataclass(frozen=True)
class StopMoh:
    channel: str


@dataclass(frozen=True)
class Mute:
    channel: str


@dataclass(frozen=True)
class Unmute:
    channel: str


@dataclass(frozen=True)
class SendDtmf:
    channel: str
    digits: str


@dataclass(frozen=True)
class Reply:
    """Answer the request's waiter: error None is success."""

    ref: int
    error: str | None = None
    message: str = ""
    request: ControlRequested | None = field(default=None, compare=False)  # what the edge takes back on failure


Command = Unbridge | Rebridge | StartMoh | StopMoh | Mute | Unmute | SendDtmf | Reply

CONTROLS = (CallAction.HOLD, CallAction.UNHOLD, CallAction.MUTE, CallAction.UNMUTE, CallAction.DTMF)
REFUSALS = {  # (action, already in that state?) -> the error
    (CallAction.HOLD, True): "ALREADY_HELD",
    (CallAction.UNHOLD, False): "NOT_HELD",
    (CallAction.MUTE, True): "ALREADY_MUTED",
    (CallAction.UNMUTE, False): "NOT_MUTED",
}


def apply(controls: Controls, connected: bool, request: ControlRequested, channel: str, bridge_id: str
          ) -> tuple[Controls, Action | None, list[Command]]:
    """(controls after, the action to record or None, commands). `channel`: the party's channel."""
    action, party = request.action, request.party
    if not connected:
        return controls, None, [Reply(request.ref, "CALL_NOT_CONNECTED")]
    held, muted = party in controls.held, party in controls.muted
    if (error := REFUSALS.get((action, held if action in (CallAction.HOLD, CallAction.UNHOLD) else muted))) \
            or (action is CallAction.DTMF and held):
        return controls, None, [Reply(request.ref, error or "PARTY_HELD")]
    match action:
        case CallAction.HOLD:
            controls = replace(controls, held=controls.held | {party})
            commands = [Unbridge(bridge_id, channel), StartMoh(channel)]
        case CallAction.UNHOLD:
            controls = replace(controls, held=controls.held - {party})
            commands = [StopMoh(channel), Rebridge(bridge_id, channel)]
        case CallAction.MUTE:
            controls = replace(controls, muted=controls.muted | {party})
            commands = [Mute(channel)]
        case CallAction.UNMUTE:
            controls = replace(controls, muted=controls.muted - {party})
            commands = [Unmute(channel)]
        case _:
            commands = [SendDtmf(channel, request.digits)]
    done = Action(action, party, request.at, request.by, request.digits)
    return controls, done, [*commands, Reply(request.ref, request=request)]


def undo(controls: Controls, request: ControlRequested) -> Controls:
    """The controls as they were before an accepted request whose ARI requests failed."""
    party = request.party
    match request.action:
        case CallAction.HOLD:
            return replace(controls, held=controls.held - {party})
        case CallAction.UNHOLD:
            return replace(controls, held=controls.held | {party})
        case CallAction.MUTE:
            return replace(controls, muted=controls.muted - {party})
        case CallAction.UNMUTE:
            return replace(controls, muted=controls.muted | {party})
    return controls


def actions_json(actions: tuple[Action, ...]) -> str | None:
    """The actions as a record keeps them (JSON); None for none."""
    return json.dumps([asdict(a) for a in actions], separators=(",", ":")) if actions else None


def actions_of(text: str | None) -> tuple[Action, ...]:
    if not text or text == "[]":  # most records: no parsing (a page of 500 records reads this 500 times)
        return ()
    return tuple(Action(**{**a, "action": CallAction(a["action"]), "party": Party(a["party"])})
                 for a in json.loads(text or "[]"))


def replay(actions: tuple[Action, ...]) -> Controls:
    """Who is held or muted, from what was done (a call adopted in the middle of a hold stays held)."""
    controls = Controls()
    for a in actions:
        if a.action in CONTROLS:
            controls, _, _ = apply(controls, True, ControlRequested(a.action, a.party), "", "")
    return controls
