"""What the agent hears while the customer's phone is being dialled, measured on real SIP and real audio.

The customer leg joins the agent's bridge before it is dialled, so whatever the carrier sends before the answer
(ringback, announcements: 183 early media) reaches the agent; a carrier that only says "180 Ringing" sends no
audio at all, and then the agent must hear a ring tone, never silence.

What Asterisk sends to the agent is captured with an ARI snoop on the agent channel (spy=out: the frames written
to the agent's phone) that is recorded to a wav and fetched through ARI (GET /recordings/stored/{name}/file).
The snoop channel lives in a Stasis app of this test (TEST_APP), whose websocket the `ari_events` fixture holds
open; it also subscribes to every event, so the test sees the customer leg's Dial / ChannelStateChange events.
"""

from __future__ import annotations

import time
import uuid

import pytest

from .audio import AUDIBLE_RMS, AriApp, Heard, heard
from .conftest import HOTLINE_C, HOTLINE_D
from .helpers import assert_cleaned_up, click, invite_to, unique_phone

pytestmark = pytest.mark.lab

TEST_APP = "c2c-ringback-test"
CADENCE = 5.2  # seconds: one full on/off cycle of the ring tone (indications.conf), plus a margin


def listen(ari, events: AriApp, channel_id: str, seconds: float) -> Heard:
    """Record for `seconds` what Asterisk sends to the channel (snoop spy=out), via ARI (tests/lab/audio.py)."""
    return heard(ari, events, channel_id, seconds)


@pytest.fixture(scope="module")
def ari_events(lab):
    with AriApp(lab, TEST_APP) as events:
        yield events


def customer_state(call_id: str, state: str):
    return lambda e: (e["type"] == "ChannelStateChange" and e["channel"]["id"] == f"{call_id}.customer"
                      and e["channel"]["state"] == state)


def customer_dial(call_id: str, status: str):
    return lambda e: (e["type"] == "Dial" and e.get("peer", {}).get("id") == f"{call_id}.customer"
                      and e.get("dialstatus") == status)


# ---- the tests ----


def test_agent_hears_a_ring_tone_when_the_carrier_only_sends_180(api, ari, ari_events, phones, carriers):
    """Carrier C: 180 Ringing without SDP (no audio from the carrier), answers after 9 s, then sends no RTP."""
    phone = unique_phone()
    r = click(api, "/v1/click2call/async", ext="108", phone=phone, hotline=HOTLINE_C)
    assert r.status_code == 200, r.text
    call_id = r.json()["call_id"]
    agent = f"{call_id}.agent"
    try:
        invite_to(carriers[HOTLINE_C], phone)
        ari_events.wait(customer_state(call_id, "Ringing"), 5, "the customer leg ringing")
        # A whole cadence (indications.conf: 1 s on, 4 s off), so the measurement does not depend on the phase.
        ringing = listen(ari, ari_events, agent, CADENCE)
        assert not ari_events.find(customer_state(call_id, "Up")), "the customer answered while we listened"
        print("\n180 only, before the answer:", ringing)
        assert ringing.rms >= AUDIBLE_RMS, f"the agent hears silence while the customer's phone rings: {ringing}"
        # It is a ring tone (indications.conf: 425 Hz), not noise: several 200 ms frames that are nearly pure 425 Hz.
        assert len([f for f in ringing.audible_frames if f[1] > 0.8]) >= 2, ringing
        assert ringing.rtp_sent >= 30, f"the tone does not reach the agent's phone as RTP: {ringing}"

        # Control: the same measurement once the customer answered. This carrier sends no RTP after its 200 OK,
        # so the agent must now hear nothing: the ring tone stopped, and the measurement does detect silence.
        # A whole cadence again: were the tone still on, its "on" phase would be in the window.
        ari_events.wait(customer_state(call_id, "Up"), 12, "the customer answering")
        time.sleep(0.3)
        answered = listen(ari, ari_events, agent, CADENCE)
        print("180 only, after the answer:", answered)
        assert answered.rms < 10 and not answered.audible_frames, f"the ring tone goes on after the answer: {answered}"
    finally:
        ari.delete(f"/channels/{agent}")
    assert_cleaned_up(ari, call_id)


def test_agent_hears_the_carriers_early_media_not_a_ring_tone(api, ari, ari_events, phones, carriers):
    """Carrier D: 183 Session Progress with SDP and speech as early-media RTP, answers after 4 s."""
    phone = unique_phone()
    r = click(api, "/v1/click2call/async", ext="109", phone=phone, hotline=HOTLINE_D)
    assert r.status_code == 200, r.text
    call_id = r.json()["call_id"]
    agent = f"{call_id}.agent"
    try:
        invite_to(carriers[HOTLINE_D], phone)
        ari_events.wait(customer_dial(call_id, "PROGRESS"), 5, "183 Session Progress on the customer leg")
        time.sleep(1.0)  # the first second of g711a.pcap is quiet
        early = listen(ari, ari_events, agent, 1.5)
        assert not ari_events.find(customer_state(call_id, "Up")), "the customer answered while we listened"
        print("\n183 early media, before the answer:", early)
        assert early.rms >= AUDIBLE_RMS, f"the agent does not hear the carrier's early media: {early}"
        assert early.rtp_sent >= 30, f"the early media does not reach the agent's phone as RTP: {early}"
        # The carrier's speech, not a ring tone generated over it (or instead of it).
        audible = early.audible_frames
        assert len(audible) >= 5, early
        assert sum(share for _, share in audible) / len(audible) < 0.3, f"a 425 Hz tone masks the early media: {early}"
    finally:
        ari.delete(f"/channels/{agent}")
    assert_cleaned_up(ari, call_id)


def test_the_measurement_sees_silence_on_a_silent_channel(ari, ari_events, phones):
    """The detector cannot pass vacuously: an answered channel in our own app, to which nothing is played."""
    channel_id = f"rb-silent-{uuid.uuid4().hex[:8]}"
    r = ari.post("/channels", params={"endpoint": "PJSIP/110", "app": TEST_APP, "channelId": channel_id,
                                      "timeout": 10})
    assert r.status_code == 200, r.text
    try:
        ari_events.wait(lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == channel_id, 5,
                        "the channel answered")
        silent = listen(ari, ari_events, channel_id, 1.0)
        print("\nsilent channel:", silent)
        assert silent.rms == 0 and not silent.audible_frames
        # ... and the same channel with a ring tone played to it (POST /ring) is heard as one.
        assert ari.post(f"/channels/{channel_id}/ring").status_code == 204
        tone = listen(ari, ari_events, channel_id, 0.8)
        print("ring tone played:", tone)
        assert tone.rms >= AUDIBLE_RMS and len([f for f in tone.audible_frames if f[1] > 0.8]) >= 2, tone
    finally:
        ari.delete(f"/channels/{channel_id}")
