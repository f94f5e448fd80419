"""The inbound-call lab kit, proven on the real Asterisk without click2call: a Stasis app of this test plays the
part of the service.

A carrier (labkit.place_inbound: sipp on carrier A's inbound port) calls a hotline; pjsip.conf identifies it as
trunk-a by its source address, extensions.conf's [from-trunk] hands the hotline to [from-hotline], which enters
Stasis(${C2C_INBOUND_APP},inbound): this test points that global at its own app (helpers.route_inbound). The test
app then does what the service's inbound flow will do, by hand: ring, originate an agent, answer, bridge, or
`continue` the caller into the dialplan; and measures what each party hears (audio.heard).
"""

from __future__ import annotations

import itertools
import uuid

import pytest

from lab import labkit

from .audio import AUDIBLE_RMS, AriApp, heard
from .helpers import inbound_channel, route_inbound, wait_for

pytestmark = pytest.mark.lab

TEST_APP = "c2c-inbound-kit"
HOTLINE = "02873000001"  # takes inbound calls (extensions.conf [from-trunk])
CUSTOMER_HZ, AGENT_HZ, CONTINUE_HZ, RING_HZ = 1000, 600, 1400, 425
TONES = [CUSTOMER_HZ, AGENT_HZ, CONTINUE_HZ, RING_HZ]
TALKER, SILENT = "121", "122"  # extensions of this test's own phones (121..140 are free in the lab)

_callers = itertools.count(1)


def unique_caller() -> str:
    return f"0909{uuid.uuid4().int % 10**4:04d}{next(_callers):02d}"


@pytest.fixture(scope="module")
def app(lab, ari):
    with AriApp(lab, TEST_APP) as events, route_inbound(ari, TEST_APP):
        yield events


@pytest.fixture(scope="module")
def agents(lab):
    """121 answers after 0.3 s and then says 600 Hz; 122 rings for ever. Each its own sipp (port 5121, 5122)."""
    with labkit.Phones({TALKER: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ), SILENT: "uas_noanswer"}) as phones:
        yield phones


def arrives(app: AriApp, caller: str) -> dict:
    """The StasisStart of the inbound call from `caller` (the channel of the customer)."""
    return app.wait(lambda e: e["type"] == "StasisStart" and e["application"] == TEST_APP
                    and e["channel"]["caller"]["number"] == caller, 10,
                    f"the inbound call from {caller} in {TEST_APP}")


def gone(ari, channel_id: str) -> bool:
    return ari.get(f"/channels/{channel_id}").status_code == 404


def test_a_carriers_call_reaches_the_app_rings_without_answer_and_talks_both_ways_once_bridged(lab, ari, app,
                                                                                               agents):
    caller = unique_caller()
    with labkit.place_inbound(HOTLINE, caller, audio_hz=CUSTOMER_HZ) as call:
        start = arrives(app, caller)
        customer = start["channel"]
        # What the integrator's app gets: args ["inbound"], the hotline as ${EXTEN}, trunk-a's channel, not answered.
        assert start["args"] == ["inbound"], start
        assert customer["dialplan"]["context"] == "from-hotline" and customer["dialplan"]["exten"] == HOTLINE
        assert customer["name"].startswith("PJSIP/trunk-a-") and customer["state"] == "Ring", customer
        assert inbound_channel(ari, caller)["id"] == customer["id"]
        sip_call_id = ari.get(f"/channels/{customer['id']}/variable", params={"variable": "CHANNEL(pjsip,call-id)"})
        assert sip_call_id.json()["value"] == call.call_id
        assert call.invite_sent_at is not None
        print(f"\nStasisStart received {start['_wall'] - call.invite_sent_at:.3f} s after the carrier's INVITE")

        # Ringing: 180 to the carrier, no answer, and no audio sent to the caller (no early media).
        assert 180 not in call.statuses(), call
        assert ari.post(f"/channels/{customer['id']}/ring").status_code == 204
        call.wait_status(180)
        ringing = heard(ari, app, customer["id"], 1.0)
        print("\ncaller while ringing:", ringing)
        assert not call.answered and call.final is None, call
        assert ringing.rms < 10 and not ringing.audible_frames, f"the caller gets audio before the answer: {ringing}"

        # An agent, originated into the app with the flow's channel id; answer the caller only then, and bridge.
        call_key = f"kit-{uuid.uuid4().hex[:8]}"
        agent_id, bridge_id = f"{call_key}.agent-{TALKER}", f"{call_key}.bridge"
        r = ari.post("/channels", params={"endpoint": f"PJSIP/{TALKER}", "app": TEST_APP, "appArgs": "agent",
                                          "channelId": agent_id, "timeout": 10})
        assert r.status_code == 200, r.text
        try:
            app.stasis_start(agent_id)
            assert not call.answered, call
            assert ari.post(f"/channels/{customer['id']}/answer").status_code == 204
            assert ari.post("/bridges", params={"type": "mixing", "bridgeId": bridge_id}).status_code == 200
            r = ari.post(f"/bridges/{bridge_id}/addChannel", params={"channel": f"{customer['id']},{agent_id}"})
            assert r.status_code == 204, r.text
            call.wait_status(200)

            # Each side hears the other's tone, and that tone only.
            to_caller = heard(ari, app, customer["id"], 1.2, hz=AGENT_HZ)
            to_agent = heard(ari, app, agent_id, 1.2, hz=CUSTOMER_HZ)
            print("to the caller:", to_caller, to_caller.shares(TONES))
            print("to the agent:", to_agent, to_agent.shares(TONES))
            assert to_caller.rms >= AUDIBLE_RMS and to_caller.dominant(TONES) == AGENT_HZ, to_caller
            assert to_caller.share(AGENT_HZ) > 0.8 and to_caller.rtp_sent >= 30, to_caller
            assert to_agent.rms >= AUDIBLE_RMS and to_agent.dominant(TONES) == CUSTOMER_HZ, to_agent
            assert to_agent.share(CUSTOMER_HZ) > 0.8 and to_agent.rtp_sent >= 30, to_agent

            # The customer hangs up: BYE from the carrier ends its channel.
            call.hangup()
            assert call.wait_ended(10) == 0, call
            assert not call.got_bye, "Asterisk hung up, not the customer"
            wait_for(lambda: gone(ari, customer["id"]), 10, "the caller's channel gone")
        finally:
            ari.delete(f"/channels/{agent_id}")
            ari.delete(f"/bridges/{bridge_id}")
    wait_for(lambda: gone(ari, agent_id), 10, "the agent's channel gone")
    assert agents[TALKER].requests("BYE"), "the agent's phone got no BYE"


def test_a_caller_who_hangs_up_while_ringing_cancels_and_the_app_sees_the_channel_end(lab, ari, app, agents):
    caller = unique_caller()
    with labkit.place_inbound(HOTLINE, caller) as call:
        customer = arrives(app, caller)["channel"]
        assert ari.post(f"/channels/{customer['id']}/ring").status_code == 204
        agent_id = f"kit-{uuid.uuid4().hex[:8]}.agent-{SILENT}"
        invites_before, cancels_before = len(agents[SILENT].invites()), len(agents[SILENT].requests("CANCEL"))
        r = ari.post("/channels", params={"endpoint": f"PJSIP/{SILENT}", "app": TEST_APP, "channelId": agent_id,
                                          "timeout": 30})
        assert r.status_code == 200, r.text
        try:
            wait_for(lambda: len(agents[SILENT].invites()) > invites_before, 10, "the agent's phone ringing")
            call.wait_status(180)
            call.hangup()  # CANCEL
            call.wait_status(487)
            assert call.wait_ended(10) == 0 and not call.answered, call
            app.wait(lambda e: e["type"] == "StasisEnd" and e["channel"]["id"] == customer["id"], 10,
                     "StasisEnd of the caller's channel")
            destroyed = app.wait(lambda e: e["type"] == "ChannelDestroyed" and e["channel"]["id"] == customer["id"],
                                 10, "the caller's channel destroyed")
            print("\ncancelled:", call, "cause", destroyed["cause"], destroyed["cause_txt"])
        finally:
            # The app's part (the flow will do this): stop ringing the agent, whose phone then gets a CANCEL.
            ari.delete(f"/channels/{agent_id}")
        wait_for(lambda: len(agents[SILENT].requests("CANCEL")) > cancels_before, 10, "CANCEL to the agent's phone")


def test_a_caller_continued_into_the_lab_context_lands_there(lab, ari, app):
    caller = unique_caller()
    with labkit.place_inbound(HOTLINE, caller) as call:
        customer = arrives(app, caller)["channel"]
        assert ari.post(f"/channels/{customer['id']}/ring").status_code == 204
        call.wait_status(180)
        r = ari.post(f"/channels/{customer['id']}/continue",
                     params={"context": "c2c-test-continue", "extension": "s", "priority": 1})
        assert r.status_code == 204, r.text
        call.wait_status(200)  # [c2c-test-continue] answers
        landed = wait_for(lambda: ari.get(f"/channels/{customer['id']}/variable",
                                          params={"variable": "C2C_LANDED"}).json().get("value"), 10, "C2C_LANDED")
        assert landed == "c2c-test-continue,s"
        tone = heard(ari, app, customer["id"], 1.0, hz=CONTINUE_HZ)  # a snoop works on a channel out of Stasis too
        print("\ncontinued:", tone, tone.shares(TONES))
        assert tone.dominant(TONES) == CONTINUE_HZ and tone.share(CONTINUE_HZ) > 0.8, tone
        call.hangup()
        assert call.wait_ended(10) == 0, call


def test_an_unknown_number_or_an_unknown_carrier_is_rejected_and_never_reaches_an_app(lab, ari, app):
    caller = unique_caller()
    with labkit.place_inbound("02873999999", caller) as call:  # no such hotline
        assert call.wait_ended(10) == 0, call
    assert call.final == 403, call
    stranger = unique_caller()  # the right hotline, from an address no trunk has
    with labkit.place_inbound(HOTLINE, stranger, port=labkit.free_udp_port()) as call2:
        call2.wait_ended(10)
    assert call2.final == 401, call2  # no endpoint: PJSIP challenges instead of saying so
    assert not app.find(lambda e: e["type"] == "StasisStart" and e["channel"]["caller"]["number"] in (
        caller, stranger)), "a rejected call reached the app"


def test_a_hotline_call_while_the_app_is_not_connected_is_refused_with_503(lab, ari, app):
    with route_inbound(ari, "c2c-inbound-kit-nobody"):
        with labkit.place_inbound(HOTLINE, unique_caller()) as call:
            assert call.wait_ended(10) == 0, call
    assert call.final == 503, call


def test_carrier_b_is_told_apart_by_its_port_and_gets_a_bye_when_the_app_hangs_up(lab, ari, app):
    caller = unique_caller()
    with labkit.place_inbound("02873000002", caller, port=labkit.INBOUND_PORTS["trunk-b"][0]) as call:
        customer = arrives(app, caller)["channel"]
        assert customer["name"].startswith("PJSIP/trunk-b-") and customer["dialplan"]["exten"] == "02873000002"
        assert ari.post(f"/channels/{customer['id']}/answer").status_code == 204
        call.wait_status(200)
        assert ari.delete(f"/channels/{customer['id']}").status_code == 204
        assert call.wait_ended(10) == 0 and call.got_bye, call
