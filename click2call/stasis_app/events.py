"""ARI events -> call-flow events. Every ARI event the app reacts to is wired here, in HANDLERS.

Ids are ours (`<call_id>.<leg>`), so the call an event belongs to is read off the channel id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from . import call_flow as flow
from . import ids


def _channel(raw: dict) -> tuple[str, str] | None:
    parsed = ids.parse(raw.get("channel", {}).get("id", ""))
    if parsed is None or parsed[1] == "bridge":
        return None
    return parsed


def timestamp(raw: dict) -> float:
    """Asterisk's own time of the event (`2026-11-27T03:12:45.123+0000`), else now."""
    try:
        return datetime.strptime(raw["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except (KeyError, ValueError):
        return time.time()


def _sip_call_id(raw: dict) -> str:
    return raw["channel"].get("protocol_id") or ""


def _stasis_start(raw: dict, call_id: str, leg: str) -> flow.Event | None:
    # An originated channel enters the app when it is answered; the created customer leg enters right after
    # its creation, and only from then on can it join the bridge.
    if leg == ids.AGENT:
        return flow.Answered(leg, timestamp(raw), _sip_call_id(raw))
    return flow.CustomerReady()


def _state_change(raw: dict, call_id: str, leg: str) -> flow.Event | None:
    state = raw["channel"].get("state")
    if state == "Ringing":
        return flow.Ringing(leg, timestamp(raw), _sip_call_id(raw))
    if state == "Up" and leg == ids.CUSTOMER:
        return flow.Answered(leg, timestamp(raw), _sip_call_id(raw))
    return None


def _destroyed(raw: dict, call_id: str, leg: str) -> flow.Event | None:
    return flow.ChannelGone(leg, int(raw.get("cause", 0)), raw.get("cause_txt", ""), timestamp(raw))


HANDLERS: dict[str, Callable[[dict, str, str], flow.Event | None]] = {
    "StasisStart": _stasis_start,
    "ChannelStateChange": _state_change,
    "ChannelDestroyed": _destroyed,
}


def translate(raw: dict) -> tuple[str, flow.Event] | None:
    """(call_id, event) for the events that move a call; None for everything else."""
    handler = HANDLERS.get(raw.get("type", ""))
    if handler is None:
        return None
    target = _channel(raw)
    if target is None:
        return None
    event = handler(raw, *target)
    return None if event is None else (target[0], event)
