"""The call-control lab kit (issue 14: hold, unhold, mute, unmute, DTMF), proven on the real Asterisk without the
feature: a Stasis app of this test does by hand, through ARI, what the service is to do on a connected call.

The kit:
- a customer who talks, on a trunk of the test's own: trunk-f (pjsip.conf, sip:127.0.0.1:5080, no carrier of the
  session's there) and its carrier labkit.TalkingCarrier (the `talking_customer` fixture: answers after 0.3 s,
  says 1000 Hz); the session's services know trunk-f as hotline HOTLINE_TALKING (02873000006), so a click-to-call
  with hotline=02873000006 reaches it;
- what a party received, from its own RTP: labkit.RtpCapture on a sipp's media port (TalkingCarrier.rtp is one):
  RFC 4733 digits (sipp itself never decodes what it receives) and audio (audio.heard_rtp); audio.heard still
  measures what Asterisk writes to a channel through a snoop;
- music on hold that is audible and told from the parties' tones (Heard.music: real music, musiconhold.conf
  plays macroform-cold_day first, loud from its first second).

A test of the feature, with the session's service:

    with labkit.Phones({"121": ("uas_answer_audio", {"ring_ms": 300}, 1500)}) as phones:     # agent: 1500 Hz
        r = api.get("/v1/click2call", params={"ext": "121", "phone": phone, "hotline": HOTLINE_TALKING})
        call_id = r.json()["call_id"]; talking_customer.wait_answered(phone)                 # customer: 1000 Hz
        customer, agent = f"{call_id}.customer", f"{call_id}.agent"
        assert heard(ari, app, customer, 1.0).dominant(TONES) == 1500                      # they talk
        api.post(f"/v1/call/{call_id}/hold", json={"legs": "bleg"})
        assert heard(ari, app, customer, 1.5).music(TONES)                                 # MOH, not the agent
        assert heard(ari, app, agent, 1.0).rms < AUDIBLE_RMS                               # the agent: nothing
        api.post(f"/v1/call/{call_id}/dtmf", json={"legs": "bleg", "digits": "1234#"})
        wait_for(lambda: talking_customer.received_digits(phone) == "1234#", 10, "digits")

(`app`: an audio.AriApp of the test's own, where heard()'s snoops live; `ari`: the session's ARI client.)
What Asterisk 22 does, as measured here: a party taken out of the two-party mixing bridge gets no RTP at all (the
agent left alone, as a muted agent's customer, receives nothing, not silence packets); MOH started on a channel
still in the bridge replaces what the bridge sends it, but its own voice still reaches the bridge.
"""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid

import pytest

from lab import labkit

from .audio import AUDIBLE_RMS, AriApp, heard, heard_rtp
from .conftest import HOTLINE_TALKING
from .helpers import final_record, wait_for

pytestmark = pytest.mark.lab

TEST_APP = "c2c-control-kit"
CUSTOMER_HZ, AGENT_HZ, OTHER_HZ, RING_HZ = 1000, 1500, 2000, 425
TONES = [CUSTOMER_HZ, AGENT_HZ, OTHER_HZ, RING_HZ]
AGENT, SERVICE_AGENT = "139", "140"  # extensions of this test's own phones (121..140 are free in the lab)

_numbers = itertools.count(1)


def unique_customer() -> str:
    return f"0907{uuid.uuid4().int % 10**4:04d}{next(_numbers):02d}"


@pytest.fixture(scope="module")
def app(lab):
    with AriApp(lab, TEST_APP) as events:
        yield events


def in_bridge(ari, bridge_id: str) -> set[str]:
    return set(ari.get(f"/bridges/{bridge_id}").json().get("channels", []))


def talking(ari, app, channel_id: str, hz: int, seconds: float = 1.0):
    """What Asterisk sends to the channel: the tone hz and little else."""
    h = heard(ari, app, channel_id, seconds, hz=hz)
    assert h.rms >= AUDIBLE_RMS and h.dominant(TONES) == hz and h.share(hz) > 0.8, h
    return h


def hears_nothing(h) -> None:
    assert h.rms < AUDIBLE_RMS and h.dominant(TONES) is None and not h.audible_frames, h


@contextlib.contextmanager
def connected_by_hand(ari, app, carrier: labkit.TalkingCarrier, agent_ext: str):
    """A call as the service connects one, done by the test app: the agent's phone and a customer dialled through
    trunk-f, both in TEST_APP, answered, in a mixing bridge. Yields (customer phone, customer channel id, agent
    channel id, bridge id); hangs both up after."""
    phone, key = unique_customer(), f"kit-{uuid.uuid4().hex[:8]}"
    customer, agent, bridge = f"{key}.customer", f"{key}.agent", f"{key}.bridge"
    try:
        for endpoint, channel_id in ((f"PJSIP/{agent_ext}", agent),
                                     (f"PJSIP/{phone}@{labkit.TALKING_TRUNK}", customer)):
            r = ari.post("/channels", params={"endpoint": endpoint, "app": TEST_APP, "channelId": channel_id,
                                              "timeout": 15})
            assert r.status_code == 200, r.text
        app.stasis_start(agent, 15)
        app.stasis_start(customer, 15)
        carrier.wait_answered(phone, 15)
        assert ari.post("/bridges", params={"type": "mixing", "bridgeId": bridge}).status_code == 200
        r = ari.post(f"/bridges/{bridge}/addChannel", params={"channel": f"{customer},{agent}"})
        assert r.status_code == 204, r.text
        wait_for(lambda: in_bridge(ari, bridge) == {customer, agent}, 10, "both in the bridge")
        yield phone, customer, agent, bridge
    finally:
        for channel_id in (customer, agent):
            ari.delete(f"/channels/{channel_id}")
        ari.delete(f"/bridges/{bridge}")


def test_by_hand_a_bridged_call_hold_unhold_mute_and_dtmf(lab, ari, app, talking_customer):
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ)}) as phones, \
            labkit.RtpCapture(phones[AGENT].media_port) as agent_rtp:
        with connected_by_hand(ari, app, talking_customer, AGENT) as (phone, customer, agent, bridge):
            # Connected: each hears the other.
            source = talking_customer.media_source(phone)  # the customer's RTP comes from there
            talking(ari, app, customer, AGENT_HZ)
            talking(ari, app, agent, CUSTOMER_HZ)
            got = heard_rtp(talking_customer.rtp, 1.0, source=source, hz=AGENT_HZ)  # the carrier's own RTP agrees
            print("\nconnected, the carrier received:", got)
            assert got.dominant(TONES) == AGENT_HZ and got.rtp_sent >= 30, got

            # Hold: the customer out of the bridge, MOH to it; the agent, alone in the bridge, gets nothing.
            r = ari.post(f"/bridges/{bridge}/removeChannel", params={"channel": customer})
            assert r.status_code == 204, r.text
            wait_for(lambda: in_bridge(ari, bridge) == {agent}, 10, "the customer out of the bridge")
            assert ari.post(f"/channels/{customer}/moh").status_code == 204
            moh = heard(ari, app, customer, 1.5)
            to_agent = heard(ari, app, agent, 1.0)
            got = heard_rtp(talking_customer.rtp, 1.0, source=source)
            print("held: the customer hears", moh, moh.shares(TONES), "\nthe carrier received", got, got.shares(TONES),
                  "\nthe agent hears", to_agent)
            assert moh.music(TONES) and got.music(TONES), (moh, got)
            hears_nothing(to_agent)
            assert to_agent.rtp_sent == 0, to_agent  # not silence: no RTP at all

            # Unhold: MOH off, back into the bridge: they talk again.
            assert ari.delete(f"/channels/{customer}/moh").status_code == 204
            assert ari.post(f"/bridges/{bridge}/addChannel", params={"channel": customer}).status_code == 204
            wait_for(lambda: in_bridge(ari, bridge) == {customer, agent}, 10, "the customer back in the bridge")
            talking(ari, app, customer, AGENT_HZ)
            talking(ari, app, agent, CUSTOMER_HZ)

            # Mute the agent (what it says no longer reaches the bridge): the customer hears nothing; the agent
            # still hears the customer. Unmute: the customer hears the agent again.
            assert ari.post(f"/channels/{agent}/mute", params={"direction": "in"}).status_code == 204
            to_customer = heard(ari, app, customer, 1.0)
            print("agent muted: the customer hears", to_customer)
            hears_nothing(to_customer)
            talking(ari, app, agent, CUSTOMER_HZ)
            assert ari.delete(f"/channels/{agent}/mute", params={"direction": "in"}).status_code == 204
            talking(ari, app, customer, AGENT_HZ)

            # DTMF to the customer: the carrier receives exactly those RFC 4733 events, each ended; the agent none.
            since = time.time()
            assert ari.post(f"/channels/{customer}/dtmf", params={"dtmf": "1234#"}).status_code == 204
            events = wait_for(lambda: (e := talking_customer.rtp.events(since, source=source)) and len(e) >= 5
                              and all(x["ended"] for x in e) and e, 15, "five ended DTMF events at the carrier")
            print("the carrier received", events)
            assert talking_customer.received_digits(phone, since) == "1234#", events
            assert agent_rtp.digits(since) == "", agent_rtp
            assert talking_customer.rtp.digits(until=since, source=source) == ""  # none before they were sent
        wait_for(lambda: talking_customer.got_bye(phone), 10, "the carrier's BYE")


def test_moh_on_a_channel_still_in_the_bridge_covers_what_it_hears_but_not_what_it_says(lab, ari, app,
                                                                                        talking_customer):
    """Why a hold takes the held party out of the bridge: MOH alone is not enough (what Asterisk 22 does)."""
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ)}), \
            connected_by_hand(ari, app, talking_customer, AGENT) as (_phone, customer, agent, bridge):
        talking(ari, app, customer, AGENT_HZ)
        assert ari.post(f"/channels/{customer}/moh").status_code == 204
        moh = heard(ari, app, customer, 1.5)
        print("\nMOH in the bridge: the customer hears", moh, moh.shares(TONES))
        assert moh.music(TONES), moh
        talking(ari, app, agent, CUSTOMER_HZ)  # the "held" customer is still heard by the agent
        assert in_bridge(ari, bridge) == {customer, agent}


def test_a_click_to_call_of_the_service_connects_a_talking_customer(lab, ari, app, api, talking_customer):
    """The service's own click-to-call through HOTLINE_TALKING: both sides talk, digits reach the carrier."""
    phone = unique_customer()
    with labkit.Phones({SERVICE_AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ)}):
        r = api.get("/v1/click2call", params={"ext": SERVICE_AGENT, "phone": phone, "hotline": HOTLINE_TALKING})
        assert r.status_code == 200, r.text
        call_id = r.json()["call_id"]
        customer, agent = f"{call_id}.customer", f"{call_id}.agent"
        talking_customer.wait_answered(phone, 15)
        assert talking_customer.invite_for(phone)["request_uri"].startswith(f"sip:{phone}@127.0.0.1:5080")
        talking(ari, app, customer, AGENT_HZ)
        talking(ari, app, agent, CUSTOMER_HZ)
        since = time.time()
        assert ari.post(f"/channels/{customer}/dtmf", params={"dtmf": "9*0"}).status_code == 204
        wait_for(lambda: talking_customer.received_digits(phone, since) == "9*0", 15, "the digits at the carrier")
        assert ari.delete(f"/channels/{agent}").status_code == 204  # the agent hangs up
        wait_for(lambda: talking_customer.got_bye(phone), 10, "the carrier's BYE")
    assert final_record(api, call_id)["status"] == "ANSWERED"
