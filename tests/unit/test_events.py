"""ARI events -> call-flow events (the HANDLERS table)."""

from click2call.stasis_app import call_flow as flow
from click2call.stasis_app import events, ids
from click2call.states import Party

TS = "2026-11-27T03:12:45.500+0000"


def ev(kind, channel_id, **extra):
    return {"type": kind, "timestamp": TS, "channel": {"id": channel_id, "state": extra.pop("state", "Up"),
                                                      "protocol_id": "sip-1"}, **extra}


def foreign(channel_id):
    return ("c1", Party.AGENT) if channel_id == "1795752289.0" else ids.parse(channel_id)


def test_our_channels():
    at = 1795749165.5
    assert events.translate(ev("StasisStart", "c1.agent")) == ("c1", flow.Answered("agent", at, "sip-1"))
    assert events.translate(ev("StasisStart", "c1.customer")) == ("c1", flow.CustomerReady())
    assert events.translate(ev("ChannelStateChange", "c1.customer", state="Ringing")) == (
        "c1", flow.Ringing("customer", at, "sip-1"))
    assert events.translate(ev("ChannelStateChange", "c1.customer")) == ("c1", flow.Answered("customer", at, "sip-1"))
    assert events.translate(ev("ChannelStateChange", "c1.agent")) is None  # the agent's answer is its StasisStart
    assert events.translate(ev("ChannelDestroyed", "c1.customer", cause=17, cause_txt="User busy")) == (
        "c1", flow.ChannelGone("customer", 17, "User busy", at))
    assert events.translate(ev("StasisEnd", "c1.customer")) is None  # ChannelDestroyed brings the real cause


def test_handed_off_channels():
    raw = ev("StasisStart", "1795752289.0", args=["outbound"])
    assert events.handoff_args(raw) == ["outbound"]
    assert events.handoff_args(ev("StasisStart", "c1.customer")) is None
    assert events.translate(raw, foreign) is None  # a handoff starts its call; it is not an answer
    assert events.translate(ev("StasisEnd", "1795752289.0"), foreign) == (
        "c1", flow.ChannelGone("agent", 16, "left the app", 1795749165.5))


def test_recordings_and_strangers():
    failed = {"type": "RecordingFailed", "recording": {"target_uri": "bridge:c1.bridge", "cause": "disk full"}}
    assert events.translate(failed) == ("c1", flow.RecordingFailed("Asterisk: disk full"))
    assert events.translate({**failed, "recording": {"target_uri": "channel:c1.agent"}}) is None
    assert events.translate(ev("ChannelDestroyed", "1795752289.7", cause=16)) is None  # not ours
    assert events.translate({"type": "ChannelVarset", "channel": {"id": "c1.agent"}}) is None
