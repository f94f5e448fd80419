"""Agents' presence (pure): ARI's endpoint, contact and channel events as Asterisk 22 sends them (the shapes below
are copied from the lab's) -> presence events -> the agent's registration and call state, and what the stream is
told."""

from __future__ import annotations

from click2call.stasis_app import events
from click2call.stasis_app.presence import (
    ChannelSeen, ContactDetails, ContactSeen, EndpointSeen, Presence, apply, contact_to_read,
)
from click2call.states import AgentCallState, AgentEvent

T = "2026-11-30T15:14:54.094+0000"


def endpoint(state: str, channel_ids=(), resource="118", technology="PJSIP") -> dict:
    return {"technology": technology, "resource": resource, "state": state, "channel_ids": list(channel_ids)}


def test_ari_events_become_presence_events():
    assert events.agent_event({"type": "EndpointStateChange", "timestamp": T,
                               "endpoint": endpoint("online", ["c1.agent"])}) == EndpointSeen(
        "118", True, ("c1.agent",), events.timestamp({"timestamp": T}))
    contact = {"type": "ContactStatusChange", "timestamp": T, "endpoint": endpoint("online"),
               "contact_info": {"uri": "sip:118@127.0.0.1:5091", "contact_status": "NonQualified", "aor": "118",
                                "roundtrip_usec": "0"}}
    seen = events.agent_event(contact)
    assert (seen.ext, seen.online, seen.aor, seen.uri, seen.status, seen.gone) == (
        "118", True, "118", "sip:118@127.0.0.1:5091", "NonQualified", False)
    channel = {"id": "c1.agent", "name": "PJSIP/agent-118-00000002", "state": "Ringing"}
    assert events.agent_event({"type": "ChannelStateChange", "timestamp": T, "channel": channel}) == ChannelSeen(
        "agent-118", "c1.agent", "Ringing", seen.at)
    assert events.agent_event({"type": "ChannelDestroyed", "timestamp": T, "channel": channel, "cause": 16}
                              ).state is None
    # Not about a PJSIP endpoint: nothing.
    assert events.agent_event({"type": "EndpointStateChange", "endpoint": endpoint("online", technology="IAX2")}) \
        is None
    assert events.agent_event({"type": "ChannelStateChange", "channel": {"id": "x", "name": "Local/1@a-0001;1",
                                                                         "state": "Up"}}) is None
    assert events.agent_event({"type": "PeerStatusChange", "endpoint": endpoint("online")}) is None
    assert events.agent_event({"type": "StasisStart", "channel": channel}) is None


def test_the_event_filter_lets_through_what_calls_and_presence_handle():
    types = events.handled_types()
    assert set(types) == {*events.HANDLERS, *events.INBOUND_HANDLERS, *events.AGENT_HANDLERS}
    assert len(types) == len(set(types))
    assert {"EndpointStateChange", "ContactStatusChange", "ChannelStateChange", "ChannelDestroyed"} <= set(types)


def play(*evs, start: Presence | None = None) -> tuple[Presence, list[AgentEvent]]:
    p, told = start or Presence("118", state_since=0.0), []
    for e in evs:
        p, more = apply(p, e)
        told += more
    return p, told


URI = "sip:118@192.0.2.7:5060"
ONLINE = EndpointSeen("118", True, (), 1.0)
DETAILS = ContactDetails("118", URI, "Zoiper 5", "192.0.2.7", 1.1)


def test_a_registration_is_told_once_its_contact_is_known_and_an_unregistration_at_once():
    p, told = play(ONLINE)
    assert not p.registered and told == []  # online, but the contact is still being read
    p, told = play(ContactSeen("118", True, "118", URI, "NonQualified", 1.05), DETAILS, start=p)
    assert (p.registered, p.user_agent, p.network_ip, p.registered_since, told) == (
        True, "Zoiper 5", "192.0.2.7", 1.1, [AgentEvent.REGISTERED])
    same, told = play(ContactSeen("118", True, "118", URI, "Updated", 2.0), DETAILS, start=p)
    assert told == [] and same.registered_since == 1.1  # a re-REGISTER of the same phone changes nothing
    gone, told = play(EndpointSeen("118", False, (), 3.0), ContactSeen("118", False, "118", URI, "Removed", 3.0),
                      start=p)
    assert (gone.registered, gone.contact, gone.user_agent, told) == (False, "", "", [AgentEvent.UNREGISTERED])


def test_another_phone_registering_is_told_and_a_late_read_of_an_offline_contact_is_ignored():
    p, _ = play(ONLINE, DETAILS)
    moved, told = play(ContactDetails("118", "sip:118@192.0.2.9:5060", "Linphone", "192.0.2.9", 2.0), start=p)
    assert told == [AgentEvent.REGISTERED] and moved.network_ip == "192.0.2.9"
    offline, _ = play(EndpointSeen("118", False, (), 3.0))
    assert play(DETAILS, start=offline) == (offline, [])


def test_call_state_follows_the_endpoint_s_channels():
    p, _ = play(ONLINE, DETAILS)
    ringing, told = play(EndpointSeen("118", True, ("c1",), 5.0), ChannelSeen("118", "c1", "Ringing", 5.01), start=p)
    assert (ringing.call_state, ringing.state_since, told) == (AgentCallState.RINGING, 5.0, [AgentEvent.STATE])
    up, told = play(ChannelSeen("118", "c1", "Up", 8.0), start=ringing)
    assert (up.call_state, up.state_since, told) == (AgentCallState.ONCALL, 8.0, [AgentEvent.STATE])
    # A second channel ringing (call waiting) while one is up: still on the call.
    assert play(ChannelSeen("118", "c2", "Ringing", 9.0), start=up)[0].call_state is AgentCallState.ONCALL
    idle, told = play(ChannelSeen("118", "c1", None, 20.0), EndpointSeen("118", True, (), 20.0), start=up)
    assert (idle.call_state, idle.idle_since, idle.state_since, told) == (
        AgentCallState.IDLE, 20.0, 20.0, [AgentEvent.STATE])
    # The same event twice (Asterisk repeats some): no second change.
    assert play(ChannelSeen("118", "c1", "Up", 8.0), start=up) == (up, [])


def test_a_listing_at_reconnect_gives_the_channels_states():
    p, told = play(EndpointSeen("118", True, ("c1", "c2"), 1.0, {"c1": "Ring", "c2": "Up"}))
    assert p.call_state is AgentCallState.ONCALL and told == [AgentEvent.STATE]
    p, _ = play(EndpointSeen("118", True, ("c9",), 1.0))  # a channel whose state is not known yet: not up
    assert p.call_state is AgentCallState.RINGING


def test_what_is_read_from_asterisk_after_a_contact_event():
    p, _ = play(ONLINE, DETAILS)
    created = ContactSeen("118", True, "118", "sip:118@192.0.2.9:5060", "Created", 2.0)
    assert contact_to_read(p, apply(p, created)[0], created) == "contact"
    removed = ContactSeen("118", True, "118", URI, "Removed", 2.0)  # the known one went, the endpoint stays online
    assert contact_to_read(p, apply(p, removed)[0], removed) == "endpoint"
    other = ContactSeen("118", True, "118", "sip:118@198.51.100.1", "Removed", 2.0)
    assert contact_to_read(p, apply(p, other)[0], other) is None
    assert contact_to_read(p, p, ONLINE) is None  # online already, its contact known
    offline = Presence("118")
    assert contact_to_read(offline, apply(offline, ONLINE)[0], ONLINE) == "endpoint"  # came online: whose contact?
