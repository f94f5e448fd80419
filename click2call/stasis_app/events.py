"""ARI events -> call-flow events, and -> agents' presence events. Every ARI event the app reacts to is wired here:
HANDLERS for click-to-calls (call_flow), INBOUND_HANDLERS for inbound calls (inbound_flow), AGENT_HANDLERS for agents'
presence.

Ids are ours (`<call_id>.<leg>`), so the call an event belongs to is read off the channel id; the channels the
dialplan handed over keep Asterisk's ids, and the app looks them up (the resolver).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from .. import q850
from ..states import Party
from ..states import HangupBy
from . import call_flow as flow
from . import ids, presence
from . import inbound_flow as inbound
from . import supervision as supervise
from . import transfers as xfer

Resolver = Callable[[str], "tuple[str, str] | None"]  # channel id -> (call_id, leg)


def timestamp(raw: dict) -> float:
    """Asterisk's own time of the event (`2026-11-27T03:12:45.123+0000`), else now."""
    try:
        return datetime.strptime(raw["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except (KeyError, ValueError):
        return time.time()


def _sip_call_id(raw: dict) -> str:
    return raw["channel"].get("protocol_id") or ""


def handoff_args(raw: dict) -> list[str] | None:
    """The Stasis arguments of a channel the dialplan hands to the app (not one we created); else None."""
    if raw.get("type") != "StasisStart" or ids.parse_leg(raw["channel"]["id"]) is not None:
        return None
    return list(raw.get("args", []))


def _stasis_start(raw: dict, call_id: str, leg: Party | None) -> flow.Event | None:
    # An originated channel enters the app when it is answered; the created customer leg enters right after
    # its creation, and only from then on can it join the bridge. A handed-off channel starts its call instead.
    if leg == Party.AGENT and raw["channel"]["id"] != ids.channel_id(call_id, Party.AGENT):
        return None
    if leg == Party.AGENT:
        return flow.Answered(leg, timestamp(raw), _sip_call_id(raw))
    return flow.CustomerReady()


def _state_change(raw: dict, call_id: str, leg: Party | None) -> flow.Event | None:
    state = raw["channel"].get("state")
    if state == "Ringing":
        return flow.Ringing(leg, timestamp(raw), _sip_call_id(raw))
    if state == "Up" and leg == Party.CUSTOMER:
        return flow.Answered(leg, timestamp(raw), _sip_call_id(raw))
    return None


def _destroyed(raw: dict, call_id: str, leg: Party | None) -> flow.Event | None:
    return flow.ChannelGone(leg, int(raw.get("cause", 0)), raw.get("cause_txt", ""), timestamp(raw))


def _stasis_end(raw: dict, call_id: str, leg: Party | None) -> flow.Event | None:
    # A channel the dialplan handed over goes back to the dialplan when it leaves the app, and we hear no more
    # of it (no ChannelDestroyed): for the call, that leg is gone. Our own channels' ChannelDestroyed follows
    # with the real cause, so their StasisEnd is ignored.
    if raw["channel"]["id"] == ids.channel_id(call_id, leg):
        return None
    return flow.ChannelGone(leg, q850.NORMAL_CLEARING, "left the app", timestamp(raw))


def _recording_failed(raw: dict, call_id: str, leg: Party | None) -> flow.Event | None:
    return flow.RecordingFailed(f"Asterisk: {raw['recording'].get('cause') or 'recording failed'}")


def _channel_transfer(raw: dict, call_id: str, leg: str | None) -> xfer.Event | None:
    # Our own transfer_progress comes back as a ChannelTransfer with a `state`: only the phone's first one counts.
    if "state" in raw or leg is None or not str(leg).startswith(Party.AGENT):
        return None
    wanted = (raw.get("refer_to") or {}).get("requested_destination") or {}
    attended = bool(wanted.get("protocol_id") or (raw.get("refer_to") or {}).get("destination_channel"))
    source = raw["referred_by"]["source_channel"]["id"]
    return xfer.PhoneTransfer(source, str(wanted.get("destination") or ""), attended)


HANDLERS: dict[str, Callable[[dict, str, Party | None], flow.Event | None]] = {
    "StasisStart": _stasis_start,
    "ChannelStateChange": _state_change,
    "ChannelDestroyed": _destroyed,
    "StasisEnd": _stasis_end,
    "RecordingFailed": _recording_failed,
    "ChannelTransfer": _channel_transfer,
}


# ---- inbound calls: the caller's channel is the dialplan's (leg "customer"), the agents' legs are agent-N ----


def _inbound_start(raw: dict, call_id: str, leg: str | None) -> inbound.Event | None:
    index = ids.agent_index(leg or "")  # an originated agent leg enters the app when it is answered
    return None if index is None else inbound.AgentAnswered(index, timestamp(raw), _sip_call_id(raw))


def _inbound_state(raw: dict, call_id: str, leg: str | None) -> inbound.Event | None:
    index = ids.agent_index(leg or "")
    if index is None or raw["channel"].get("state") != "Ringing":
        return None
    return inbound.AgentRinging(index, timestamp(raw), _sip_call_id(raw))


def _inbound_destroyed(raw: dict, call_id: str, leg: str | None) -> inbound.Event | None:
    cause, text, at = int(raw.get("cause", 0)), raw.get("cause_txt", ""), timestamp(raw)
    index = ids.agent_index(leg or "")
    if index is not None:
        return inbound.AgentGone(index, cause, text, at)
    return inbound.CustomerGone(cause, text, at) if leg == Party.CUSTOMER else None


def _inbound_hangup_request(raw: dict, call_id: str, leg: str | None) -> inbound.Event | None:
    # The caller's channel is the dialplan's: its hang-up request carries the cause (its StasisEnd does not).
    if leg != Party.CUSTOMER:
        return None
    return inbound.CustomerGone(int(raw.get("cause", 0)), q850.name(int(raw.get("cause", 0))), timestamp(raw))


def _inbound_end(raw: dict, call_id: str, leg: str | None) -> inbound.Event | None:
    # The caller left the app: hung up, or continued in the dialplan (then we hear no more of it).
    if leg != Party.CUSTOMER:
        return None
    return inbound.CustomerGone(q850.NORMAL_CLEARING, "left the app", timestamp(raw), by=HangupBy.SYSTEM)


def _playback_finished(raw: dict, call_id: str, leg: str | None) -> inbound.Event | None:
    return inbound.PromptDone() if leg == Party.CUSTOMER else None


INBOUND_HANDLERS: dict[str, Callable[[dict, str, str | None], inbound.Event | None]] = {
    "StasisStart": _inbound_start,
    "ChannelStateChange": _inbound_state,
    "ChannelDestroyed": _inbound_destroyed,
    "ChannelHangupRequest": _inbound_hangup_request,
    "StasisEnd": _inbound_end,
    "PlaybackFinished": _playback_finished,
    "ChannelTransfer": _channel_transfer,
}


def target(raw: dict, resolve: Resolver = ids.parse_leg) -> tuple[str, str | None] | None:
    """The call and leg an event is about: its channel, the channel a playback is on, or the bridge a recording is
    of (no leg)."""
    for kind in ("recording", "playback"):
        if kind in raw:
            scheme, _, object_id = raw[kind].get("target_uri", "").partition(":")
            if scheme == "bridge":
                call_id = ids.call_of_bridge(object_id)
                return None if call_id is None else (call_id, None)
            # a recording is of a call's bridge; a playback (a prompt) is on a caller's channel
            return resolve(object_id) if scheme == "channel" and kind == "playback" else None
    if raw.get("type") == "ChannelTransfer":  # about the REFERring phone's channel
        return resolve(((raw.get("referred_by") or {}).get("source_channel") or {}).get("id", ""))
    return resolve(raw.get("channel", {}).get("id", ""))


# ---- supervisors' legs and their snoops, on either kind of call ----


def _supervision_start(raw: dict, leg: str) -> supervise.Event | None:
    if (index := ids.index_of(leg, ids.SUPERVISOR_PREFIX)) is not None:
        return supervise.SupervisorAnswered(index, timestamp(raw), _sip_call_id(raw))
    return supervise.SnoopReady(ids.index_of(leg, ids.SNOOP_PREFIX))


def _supervision_state(raw: dict, leg: str) -> supervise.Event | None:
    index = ids.index_of(leg, ids.SUPERVISOR_PREFIX)
    if index is None or raw["channel"].get("state") != "Ringing":
        return None
    return supervise.SupervisorRinging(index, timestamp(raw), _sip_call_id(raw))


def _supervision_destroyed(raw: dict, leg: str) -> supervise.Event | None:
    index = ids.index_of(leg, ids.SUPERVISOR_PREFIX)
    if index is None:
        return None
    return supervise.SupervisorGone(index, int(raw.get("cause", 0)), raw.get("cause_txt", ""), timestamp(raw))


SUPERVISION_HANDLERS: dict[str, Callable[[dict, str], supervise.Event | None]] = {
    "StasisStart": _supervision_start,
    "ChannelStateChange": _supervision_state,
    "ChannelDestroyed": _supervision_destroyed,
}


def _supervision(raw: dict, leg: str | None) -> supervise.Event | None:
    handler = SUPERVISION_HANDLERS.get(raw.get("type", ""))
    return None if handler is None else handler(raw, leg)


def _of_supervision(leg: str | None) -> bool:
    return bool(leg) and leg.startswith((ids.SUPERVISOR_PREFIX, ids.SNOOP_PREFIX))


# ---- a transfer's target leg (transfer-N), on either kind of call ----


def _transfer_event(raw: dict, leg: str) -> xfer.Event | None:
    n, kind = xfer.target_index(leg), raw.get("type")
    if kind == "StasisStart":  # created in the app: it enters at once, before it is dialled
        return xfer.TargetReady(n)
    if kind == "ChannelStateChange":
        state = raw["channel"].get("state")
        if state == "Ringing":
            return xfer.TargetRinging(n, timestamp(raw))
        return xfer.TargetAnswered(n, timestamp(raw)) if state == "Up" else None
    if kind == "ChannelDestroyed":
        return xfer.TargetGone(n, int(raw.get("cause", 0)), raw.get("cause_txt", ""), timestamp(raw))
    return None


def _of_transfer(leg: str | None) -> bool:
    return bool(leg) and xfer.target_index(leg) is not None


def outbound_event(raw: dict, call_id: str, leg: str | None) -> flow.Event | None:
    if _of_supervision(leg):
        return _supervision(raw, leg)
    if _of_transfer(leg):
        return _transfer_event(raw, leg)
    handler = HANDLERS.get(raw.get("type", ""))
    if handler is None or (leg is not None and leg not in Party.__members__.values()):
        return None
    return handler(raw, call_id, Party(leg) if leg else None)


def inbound_event(raw: dict, call_id: str, leg: str | None) -> inbound.Event | None:
    if _of_supervision(leg):
        return _supervision(raw, leg)
    if _of_transfer(leg):
        return _transfer_event(raw, leg)
    handler = INBOUND_HANDLERS.get(raw.get("type", ""))
    return None if handler is None else handler(raw, call_id, leg)


def translate(raw: dict, resolve: Resolver = ids.parse_leg) -> tuple[str, flow.Event] | None:
    """(call_id, event) for the events that move a click-to-call; None for everything else.

    `resolve` maps a channel id to (call_id, leg): our ids parse; a handed-off agent channel is looked up.
    """
    if raw.get("type", "") not in HANDLERS:
        return None
    found = target(raw, resolve)
    if found is None:
        return None
    event = outbound_event(raw, *found)
    return None if event is None else (found[0], event)


# ---- agents' presence: events of the PJSIP endpoints (the app subscribes to `endpoint:PJSIP`) and of their channels

PJSIP = "PJSIP"


def _endpoint_of(raw: dict) -> str | None:
    endpoint = raw.get("endpoint") or {}
    return endpoint.get("resource") or None if endpoint.get("technology") == PJSIP else None


def channel_endpoint(name: str) -> str | None:
    """The PJSIP endpoint of a channel, from its name `PJSIP/<endpoint>-<sequence>`; None for other channels."""
    tech, _, rest = name.partition("/")
    endpoint, dash, _ = rest.rpartition("-")
    return endpoint if tech == PJSIP and dash and endpoint else None


def _endpoint_state(raw: dict) -> presence.Event | None:
    ext = _endpoint_of(raw)
    if ext is None:
        return None
    endpoint = raw["endpoint"]
    return presence.EndpointSeen(ext, endpoint.get("state") == "online", tuple(endpoint.get("channel_ids", ())),
                                 timestamp(raw))


def _contact_status(raw: dict) -> presence.Event | None:
    ext, info = _endpoint_of(raw), raw.get("contact_info") or {}
    if ext is None or not info.get("uri"):
        return None
    return presence.ContactSeen(ext, raw["endpoint"].get("state") == "online", info.get("aor", ""), info["uri"],
                                info.get("contact_status", ""), timestamp(raw))


def _channel(raw: dict) -> presence.Event | None:
    channel = raw.get("channel") or {}
    ext = channel_endpoint(channel.get("name", ""))
    if ext is None:
        return None
    state = None if raw["type"] == "ChannelDestroyed" else channel.get("state", "Unknown")
    return presence.ChannelSeen(ext, channel["id"], state, timestamp(raw))


AGENT_HANDLERS: dict[str, Callable[[dict], presence.Event | None]] = {
    "EndpointStateChange": _endpoint_state,
    "ContactStatusChange": _contact_status,
    "ChannelStateChange": _channel,
    "ChannelDestroyed": _channel,
}


def agent_event(raw: dict) -> presence.Event | None:
    """The presence event of an ARI event about a PJSIP endpoint or one of its channels; None for everything else."""
    handler = AGENT_HANDLERS.get(raw.get("type", ""))
    return None if handler is None else handler(raw)


def handled_types() -> list[str]:
    """Every event type the app handles (the ARI event filter lets only these through)."""
    return list(dict.fromkeys([*HANDLERS, *INBOUND_HANDLERS, *AGENT_HANDLERS]))
