"""An agent's presence on one Asterisk node, as ARI's endpoint, contact and channel events tell it (pure).

What arrives from Asterisk 22 once the app is subscribed to `endpoint:PJSIP` (tried on the lab):
- a phone registers: EndpointStateChange (state online), PeerStatusChange (Reachable), ContactStatusChange (uri, aor,
  contact_status NonQualified, or Reachable when qualified); it unregisters: EndpointStateChange (offline),
  PeerStatusChange (Unreachable), ContactStatusChange (Removed). PeerStatusChange says nothing the other two do not.
- a call rings the phone, is answered, hangs up: EndpointStateChange with the channel in its channel_ids when the
  channel is made and without it when it is gone, and the channel's own events (ChannelStateChange Ringing, Up,
  ChannelDestroyed), of every PJSIP channel of the endpoint, in the app or not.
None of them carries the contact's user agent or address: those are read from the contact (see presence_tracker).

An agent is registered while its endpoint is online and its contact is known. Its call state follows its channels:
one up -> ONCALL, one in any other state -> RINGING (being rung, or dialling out), none -> IDLE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from ..states import AgentCallState, AgentEvent


@dataclass(frozen=True)
class EndpointSeen:
    """EndpointStateChange, or the endpoint as listed at a (re)connect (`states`: its channels' states then)."""

    ext: str
    online: bool
    channel_ids: tuple[str, ...]
    at: float
    states: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContactSeen:
    """ContactStatusChange: a contact of one of the endpoint's AORs was created, removed, found (un)reachable."""

    ext: str
    online: bool  # the endpoint's state as the event carries it
    aor: str
    uri: str
    status: str  # Created, Updated, NonQualified, Reachable, Unreachable, Removed, Unknown
    at: float

    @property
    def gone(self) -> bool:
        return self.status in ("Removed", "Unreachable")


@dataclass(frozen=True)
class ChannelSeen:
    """ChannelStateChange or ChannelDestroyed (state None) of a channel of the endpoint."""

    ext: str
    channel_id: str
    state: str | None
    at: float


@dataclass(frozen=True)
class ContactDetails:
    """The registered contact as read from Asterisk; uri "" when the endpoint has none."""

    ext: str
    uri: str
    user_agent: str
    network_ip: str
    at: float


Event = EndpointSeen | ContactSeen | ChannelSeen | ContactDetails

NO_CHANNELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Presence:
    ext: str
    online: bool = False
    contact: str = ""  # the registered contact's URI
    user_agent: str = ""
    network_ip: str = ""
    registered_since: float | None = None
    channels: Mapping[str, str] = field(default_factory=lambda: NO_CHANNELS)  # channel id -> state (Up, Ringing...)
    call_state: AgentCallState = AgentCallState.IDLE
    state_since: float = 0.0
    idle_since: float | None = None  # when its last call ended

    @property
    def registered(self) -> bool:
        return self.online and bool(self.contact)


def call_state(channels: Mapping[str, str]) -> AgentCallState:
    if not channels:
        return AgentCallState.IDLE
    if any(state == "Up" for state in channels.values()):
        return AgentCallState.ONCALL
    return AgentCallState.RINGING


def apply(presence: Presence, event: Event) -> tuple[Presence, list[AgentEvent]]:
    """The presence after the event, and what the stream is told of the change (nothing when nothing changed)."""
    p = presence
    match event:
        case EndpointSeen(online=online, channel_ids=ids, states=states):
            p = replace(p, online=online, channels=MappingProxyType(
                {i: states.get(i) or p.channels.get(i) or "Unknown" for i in ids}))
            if not online:
                p = replace(p, contact="", user_agent="", network_ip="")
        case ContactSeen(online=online, uri=uri) as seen:
            p = replace(p, online=online)
            if seen.gone and uri == p.contact:
                p = replace(p, contact="", user_agent="", network_ip="")
        case ChannelSeen(channel_id=channel_id, state=state):
            channels = dict(p.channels)
            if state is None:
                channels.pop(channel_id, None)
            else:
                channels[channel_id] = state
            p = replace(p, channels=MappingProxyType(channels))
        case ContactDetails(uri=uri, user_agent=user_agent, network_ip=network_ip):
            if p.online:  # offline meanwhile: its contact is gone already
                p = replace(p, contact=uri, user_agent=user_agent, network_ip=network_ip)
    return _settle(presence, p, event.at)


def _settle(before: Presence, p: Presence, at: float) -> tuple[Presence, list[AgentEvent]]:
    told: list[AgentEvent] = []
    if p.registered != before.registered:
        p = replace(p, registered_since=at if p.registered else None)
        told.append(AgentEvent.REGISTERED if p.registered else AgentEvent.UNREGISTERED)
    elif p.registered and (p.contact, p.user_agent, p.network_ip) != (before.contact, before.user_agent,
                                                                      before.network_ip):
        told.append(AgentEvent.REGISTERED)  # registered again from another phone or address
    state = call_state(p.channels)
    if state != p.call_state:
        ended = state is AgentCallState.IDLE
        p = replace(p, call_state=state, state_since=at, idle_since=at if ended else p.idle_since)
        told.append(AgentEvent.STATE)
    return p, told


def contact_to_read(before: Presence, after: Presence, event: Event) -> str | None:
    """What must be read from Asterisk after this event: "contact" (the one the event names: it appeared or
    changed), "endpoint" (the endpoint's contacts: the one known went away while the endpoint stays online, or the
    endpoint came online before its contact event said which), or nothing. After a (re)connect every online
    endpoint's contact is read."""
    if isinstance(event, EndpointSeen):
        return "endpoint" if after.online and not before.online and not after.contact else None
    if not isinstance(event, ContactSeen):
        return None
    if not event.gone:
        return "contact"
    return "endpoint" if event.uri == before.contact and after.online else None
