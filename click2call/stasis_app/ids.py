"""ARI object ids derived from the call_id, so every event maps to its call without a lookup."""

from __future__ import annotations

from ..states import Party

BRIDGE = "bridge"
_SEP = "."


def channel_id(call_id: str, leg: Party) -> str:
    return f"{call_id}{_SEP}{leg}"


def bridge_id(call_id: str) -> str:
    return f"{call_id}{_SEP}{BRIDGE}"


AGENT_PREFIX = "agent-"  # an inbound call's agent legs: agent-0, agent-1, ... in the order they were rung


def agent_channel_id(call_id: str, index: int) -> str:
    return f"{call_id}{_SEP}{AGENT_PREFIX}{index}"


SUPERVISOR_PREFIX = "supervisor-"  # a supervisor's leg (listen, whisper, barge): supervisor-0, supervisor-1, ...
SNOOP_PREFIX = "snoop-"  # the snoop on the agent's channel that a listening or whispering supervisor hears through
TRANSFER_PREFIX = "transfer-"  # a transfer's target leg: transfer-1, transfer-2, ... (transfers.TRANSFER_PREFIX)
_NUMBERED = (AGENT_PREFIX, SUPERVISOR_PREFIX, SNOOP_PREFIX, TRANSFER_PREFIX)


def numbered(call_id: str, prefix: str, index: int | str) -> str:
    return f"{call_id}{_SEP}{prefix}{index}"


def supervision_bridge_id(call_id: str, index: int) -> str:
    """Where a listening or whispering supervisor meets the snoop on the agent's channel."""
    return f"{call_id}{_SEP}supervise-{index}"


def parse_leg(object_id: str) -> tuple[str, str] | None:
    """`<call_id>.<leg>` -> (call_id, leg) for any leg of ours: agent, customer, an inbound call's agent-N, a
    supervisor-N and its snoop-N."""
    call_id, sep, leg = object_id.rpartition(_SEP)
    if not sep:
        return None
    if leg in Party.__members__.values() or any(index_of(leg, p) is not None for p in _NUMBERED):
        return call_id, leg
    return None


def index_of(leg: str, prefix: str) -> int | None:
    """<prefix>N -> N; None for any other leg."""
    number = leg[len(prefix):]
    return int(number) if leg.startswith(prefix) and number.isascii() and number.isdigit() else None


def agent_index(leg: str) -> int | None:
    """agent-N -> N; None for any other leg."""
    return index_of(leg, AGENT_PREFIX)


def parse(object_id: str) -> tuple[str, Party] | None:
    """`<call_id>.<leg>` -> (call_id, leg); None for ids that are not one of our calls' channels."""
    call_id, sep, leg = object_id.rpartition(_SEP)
    if not sep or leg not in Party.__members__.values():
        return None
    return call_id, Party(leg)


def call_of_bridge(object_id: str) -> str | None:
    """`<call_id>.bridge` -> call_id; None for bridges that are not ours."""
    call_id, sep, kind = object_id.rpartition(_SEP)
    return call_id if sep and kind == BRIDGE else None
