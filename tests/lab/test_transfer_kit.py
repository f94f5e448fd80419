"""The transfer lab kit (issue 14: transfer, park, a REFER from the agent's phone), proven on the real Asterisk 22
without the feature: a Stasis app of this test does by hand, through ARI, what the service is to do on a connected
call (tests/lab/callkit.py), and what each party hears is measured (tests/lab/audio.py).

Parties and their tones: the customer 1000 Hz (labkit.TalkingCarrier on trunk-f, or a phone for the external
transfer), the agent 1500 Hz, the transfer target 2000 Hz (a phone, or a TalkingCarrier for an external number);
the ring tone is 425 Hz (indications.conf, 1 s on / 4 s off).

The recipes (stasis_app/transfers.py is their pure state machine; /work/notes/transfer-design.md the design):
- blind: the agent's leg is hung up at once; the target is created in the app, put in the call's bridge with the
  customer, and dialled: the customer hears the ring tone Asterisk makes of the target's 180 (or its early media),
  then the target;
- attended: the target is created and dialled outside the bridge; the agent and the customer go on talking (or
  the customer is held: out of the bridge, music on hold); the target answers: the agent's leg is hung up, the
  customer (MOH off) and the target join the bridge; the target declines or is busy: nothing changed;
- external: the same with PJSIP/<number>@<trunk> and the hotline's caller ID on the connected line;
- park: the other leg hung up, the parked one out of the bridge with MOH; a transfer picks it up;
- a REFER from the agent's phone (PJSIP_TRANSFER_HANDLING()=ari-only on the agent leg): ChannelTransfer, then the
  app's transfer_progress makes the phone's NOTIFYs.
"""

from __future__ import annotations

import itertools
import time
import uuid

import pytest

from lab import labkit

from .audio import AriApp, heard, heard_rtp
from .callkit import bridged_call, create_and_dial, destroyed, in_bridge, ring_tone, state_is, talking
from .helpers import wait_for

pytestmark = pytest.mark.lab

TEST_APP = "c2c-transfer-kit"
CUSTOMER_HZ, AGENT_HZ, TARGET_HZ, RING_HZ = 1000, 1500, 2000, 425
TONES = [CUSTOMER_HZ, AGENT_HZ, TARGET_HZ, RING_HZ]
CADENCE = 5.2  # one whole on/off cycle of the ring tone, and a margin: the measurement does not depend on the phase
# Extensions of this test's own phones (121..140 are free in the lab; test_control_kit uses 139, 140).
AGENT, TARGET, BUSY, DECLINING, REFERRING, CUSTOMER_PHONE = "131", "132", "133", "136", "134", "135"
HOTLINE_CID = '"Hotline" <02873000006>'

_numbers = itertools.count(1)


def unique_customer() -> str:
    return f"0907{uuid.uuid4().int % 10**4:04d}{next(_numbers):02d}"


@pytest.fixture(scope="module")
def app(lab):
    with AriApp(lab, TEST_APP) as events:
        yield events


def agent_phone(scenario: str = "uas_answer_audio", **variables):
    return (scenario, {"ring_ms": 300, **variables}, AGENT_HZ)


def test_blind_transfer_the_customer_hears_ringback_then_the_target(lab, ari, app, talking_customer):
    with labkit.Phones({AGENT: agent_phone(), TARGET: ("uas_answer_audio", {"ring_ms": 6500}, TARGET_HZ)}) as phones, \
            bridged_call(ari, app, f"PJSIP/{AGENT}", f"PJSIP/{unique_customer()}@{labkit.TALKING_TRUNK}") as call:
        talking(ari, app, call.customer, AGENT_HZ, TONES)
        target = call.leg("transfer-1")
        # The agent leaves at once; the customer stays in the bridge, alone.
        assert ari.delete(f"/channels/{call.agent}").status_code == 204
        app.wait(destroyed(call.agent), 10, "the agent's leg gone")
        create_and_dial(ari, app, f"PJSIP/{TARGET}", target, bridge=call.bridge)
        app.wait(state_is(target, "Ringing"), 10, "the target ringing")
        ringing = heard(ari, app, call.customer, CADENCE)
        print("\nblind, the target rings: the customer hears", ringing)
        assert ring_tone(ringing), ringing
        assert ringing.rtp_sent >= 30, ringing  # as RTP to the carrier, not only inside Asterisk
        assert not app.find(state_is(target, "Up")), "the target answered while we listened"
        app.wait(state_is(target, "Up"), 10, "the target answering")
        talking(ari, app, call.customer, TARGET_HZ, TONES)
        talking(ari, app, target, CUSTOMER_HZ, TONES)
        assert in_bridge(ari, call.bridge) == {call.customer, target}
        assert phones[TARGET].invites()[0]["request_uri"].startswith(f"sip:{TARGET}@")


def test_attended_transfer_with_hold_the_customer_hears_music_until_the_target_answers(lab, ari, app,
                                                                                     talking_customer):
    with labkit.Phones({AGENT: agent_phone(), TARGET: ("uas_answer_audio", {"ring_ms": 2500}, TARGET_HZ)}), \
            bridged_call(ari, app, f"PJSIP/{AGENT}", f"PJSIP/{unique_customer()}@{labkit.TALKING_TRUNK}") as call:
        target = call.leg("transfer-1")
        # hold: the customer out of the bridge, music on hold; the target rings outside the bridge.
        assert ari.post(f"/bridges/{call.bridge}/removeChannel", params={"channel": call.customer}).status_code == 204
        assert ari.post(f"/channels/{call.customer}/moh").status_code == 204
        create_and_dial(ari, app, f"PJSIP/{TARGET}", target)
        app.wait(state_is(target, "Ringing"), 10, "the target ringing")
        moh = heard(ari, app, call.customer, 1.2)
        print("\nattended + hold, the target rings: the customer hears", moh, moh.shares(TONES))
        assert moh.music(TONES), moh
        assert not app.find(state_is(target, "Up")), "the target answered while we listened"
        app.wait(state_is(target, "Up"), 10, "the target answering")
        # Answered: the agent leaves, the customer (music off) and the target join the bridge.
        assert ari.delete(f"/channels/{call.agent}").status_code == 204
        assert ari.delete(f"/channels/{call.customer}/moh").status_code == 204
        r = ari.post(f"/bridges/{call.bridge}/addChannel", params={"channel": f"{call.customer},{target}"})
        assert r.status_code == 204, r.text
        wait_for(lambda: in_bridge(ari, call.bridge) == {call.customer, target}, 10, "customer and target bridged")
        talking(ari, app, call.customer, TARGET_HZ, TONES)
        talking(ari, app, target, CUSTOMER_HZ, TONES)
        app.wait(destroyed(call.agent), 10, "the agent's leg gone")


def test_attended_transfer_declined_or_busy_leaves_agent_and_customer_talking(lab, ari, app, talking_customer):
    with labkit.Phones({AGENT: agent_phone(), BUSY: ("uas_decline", {"code": 486, "ring_ms": 800}),
                        DECLINING: ("uas_decline", {"code": 603, "ring_ms": 800})}), \
            bridged_call(ari, app, f"PJSIP/{AGENT}", f"PJSIP/{unique_customer()}@{labkit.TALKING_TRUNK}") as call:
        for n, (ext, cause) in enumerate(((BUSY, 17), (DECLINING, 21)), 1):
            target = call.leg(f"transfer-{n}")
            create_and_dial(ari, app, f"PJSIP/{ext}", target)
            app.wait(state_is(target, "Ringing"), 10, f"{ext} ringing")
            talking(ari, app, call.customer, AGENT_HZ, TONES)  # while it rings, they talk on
            gone = app.wait(destroyed(target), 10, f"{ext} declining")
            print(f"\n{ext} declined:", gone["cause"], gone["cause_txt"])
            assert gone["cause"] == cause, gone
            talking(ari, app, call.customer, AGENT_HZ, TONES)
            talking(ari, app, call.agent, CUSTOMER_HZ, TONES)
            assert in_bridge(ari, call.bridge) == {call.customer, call.agent}


def test_blind_transfer_to_an_external_number_through_a_trunk(lab, ari, app):
    """The customer (a phone here, 1000 Hz) goes on with a number outside: PJSIP/<number>@trunk-f, whose carrier
    (2000 Hz) sees the hotline's caller ID, not the agent's."""
    number = unique_customer()
    with labkit.Phones({AGENT: agent_phone(), CUSTOMER_PHONE: ("uas_answer_audio", {"ring_ms": 300}, CUSTOMER_HZ)}), \
            labkit.TalkingCarrier(audio_hz=TARGET_HZ, ring_ms=1500) as outside, \
            bridged_call(ari, app, f"PJSIP/{AGENT}", f"PJSIP/{CUSTOMER_PHONE}") as call:
        target = call.leg("transfer-1")
        assert ari.delete(f"/channels/{call.agent}").status_code == 204
        create_and_dial(ari, app, f"PJSIP/{number}@{labkit.TALKING_TRUNK}", target, bridge=call.bridge,
                        connected_line=HOTLINE_CID)
        invite = outside.invite_for(number)
        print("\nexternal: the carrier's INVITE", invite["request_uri"], invite["from"], invite["pai"])
        assert "02873000006" in (invite["pai"] or "") and "02873000006" in invite["from"], invite
        assert AGENT not in invite["from"]
        outside.wait_answered(number, 10)
        talking(ari, app, call.customer, TARGET_HZ, TONES)
        got = heard_rtp(outside.rtp, 1.0, source=outside.media_source(number), hz=CUSTOMER_HZ)
        print("the outside number received", got)
        assert got.dominant(TONES) == CUSTOMER_HZ and got.share(CUSTOMER_HZ) > 0.8, got


def test_park_the_customer_hears_music_until_a_transfer_picks_it_up(lab, ari, app, talking_customer):
    with labkit.Phones({AGENT: agent_phone(), TARGET: ("uas_answer_audio", {"ring_ms": 1500}, TARGET_HZ)}), \
            bridged_call(ari, app, f"PJSIP/{AGENT}", f"PJSIP/{unique_customer()}@{labkit.TALKING_TRUNK}") as call:
        # park bleg: the agent leaves, the customer out of the bridge with music on hold
        assert ari.delete(f"/channels/{call.agent}").status_code == 204
        assert ari.post(f"/bridges/{call.bridge}/removeChannel", params={"channel": call.customer}).status_code == 204
        assert ari.post(f"/channels/{call.customer}/moh").status_code == 204
        app.wait(destroyed(call.agent), 10, "the agent's leg gone")
        parked = heard(ari, app, call.customer, 1.5)
        print("\nparked: the customer hears", parked, parked.shares(TONES))
        assert parked.music(TONES), parked
        # picked up by a transfer: the target rings (the customer keeps its music), answers, joins the customer
        target = call.leg("transfer-1")
        create_and_dial(ari, app, f"PJSIP/{TARGET}", target)
        app.wait(state_is(target, "Up"), 10, "the target answering")
        assert ari.delete(f"/channels/{call.customer}/moh").status_code == 204
        r = ari.post(f"/bridges/{call.bridge}/addChannel", params={"channel": f"{call.customer},{target}"})
        assert r.status_code == 204, r.text
        talking(ari, app, call.customer, TARGET_HZ, TONES)
        talking(ari, app, target, CUSTOMER_HZ, TONES)


def test_a_blind_refer_from_the_agents_phone_is_the_apps_to_carry_out(lab, ari, app, talking_customer):
    """PJSIP_TRANSFER_HANDLING()=ari-only on the agent's leg (an originate variable): Asterisk answers the phone's
    REFER 202 and tells the app (ChannelTransfer) instead of transferring; the phone's NOTIFYs follow the app's
    transfer_progress (none before the first: Asterisk sends the deferred 100 Trying with it)."""
    phones_spec = {REFERRING: ("uas_answer_refer", {"ring_ms": 300, "refer_ms": 1500, "target": TARGET}, AGENT_HZ),
                   TARGET: ("uas_answer_audio", {"ring_ms": 1000}, TARGET_HZ)}
    with labkit.Phones(phones_spec) as phones, \
            bridged_call(ari, app, f"PJSIP/{REFERRING}", f"PJSIP/{unique_customer()}@{labkit.TALKING_TRUNK}",
                         agent_variables={"PJSIP_TRANSFER_HANDLING()": "ari-only"}) as call:
        phone = phones[REFERRING]
        event = app.wait(lambda e: e["type"] == "ChannelTransfer" and
                         e["referred_by"]["source_channel"]["id"] == call.agent, 10, "ChannelTransfer")
        print("\nChannelTransfer:", {k: v for k, v in event.items() if not k.startswith("_")})
        assert event["refer_to"]["requested_destination"] == {"destination": TARGET}
        assert "state" not in event  # the first one has no state
        assert event["referred_by"]["connected_channel"]["id"] == call.customer
        assert event["referred_by"]["bridge"]["id"] == call.bridge
        assert [m["status"] for m in phone.messages() if m["status"]] == [202]  # accepted; no NOTIFY yet
        assert not phone.requests("NOTIFY")
        assert in_bridge(ari, call.bridge) == {call.customer, call.agent}  # Asterisk moved nobody

        # The app carries it out as a blind transfer: trying (the phone hears 100), the agent out of the bridge,
        # the target into it and dialled; answered: 200 to the phone, then the agent's leg is hung up.
        assert ari.post(f"/channels/{call.agent}/transfer_progress",
                        params={"states": "channel_progress"}).status_code == 204
        assert ari.post(f"/bridges/{call.bridge}/removeChannel", params={"channel": call.agent}).status_code == 204
        target = call.leg("transfer-1")
        create_and_dial(ari, app, f"PJSIP/{TARGET}", target, bridge=call.bridge)
        app.wait(state_is(target, "Up"), 10, "the target answering")
        assert ari.post(f"/channels/{call.agent}/transfer_progress",
                        params={"states": "channel_answered"}).status_code == 204
        notifies = wait_for(lambda: len(n := phone.requests("NOTIFY")) >= 2 and n, 10, "two NOTIFYs")
        print("the phone's NOTIFYs:", [(n["headers"].get("subscription-state"), n["body"].strip()) for n in notifies])
        assert [n["body"].strip() for n in notifies] == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]
        assert notifies[0]["headers"]["event"] == ["refer"]
        assert notifies[0]["headers"]["subscription-state"][0].startswith("active")
        assert notifies[-1]["headers"]["subscription-state"][0].startswith("terminated")
        def states():
            return [e.get("state") for e in app.find_all(lambda e: e["type"] == "ChannelTransfer")
                    if e["referred_by"]["source_channel"]["id"] == call.agent]
        wait_for(lambda: len(states()) >= 3, 10, "the echoes of the progress")  # each progress is told again:
        assert states() == [None, "channel_progress", "channel_answered"], states()  # the app ignores these
        assert ari.delete(f"/channels/{call.agent}").status_code == 204
        wait_for(lambda: phone.requests("BYE"), 10, "the phone's BYE")
        talking(ari, app, call.customer, TARGET_HZ, TONES)
        talking(ari, app, target, CUSTOMER_HZ, TONES)


def test_a_refer_whose_transfer_fails_tells_the_phone_and_the_call_goes_on(lab, ari, app, talking_customer):
    """channel_declined -> NOTIFY "603 Decline", channel_unavailable -> "503 Service Unavailable" (both are
    ChannelTransfer state channel_declined); the agent's leg stays up and back in the bridge, they talk on."""
    with labkit.Phones({REFERRING: ("uas_answer_refer", {"ring_ms": 300, "refer_ms": 1000, "target": BUSY},
                                    AGENT_HZ)}) as phones, \
            bridged_call(ari, app, f"PJSIP/{REFERRING}", f"PJSIP/{unique_customer()}@{labkit.TALKING_TRUNK}",
                         agent_variables={"PJSIP_TRANSFER_HANDLING()": "ari-only"}) as call:
        phone = phones[REFERRING]
        app.wait(lambda e: e["type"] == "ChannelTransfer" and e["referred_by"]["source_channel"]["id"] == call.agent,
                 10, "ChannelTransfer")
        assert ari.post(f"/channels/{call.agent}/transfer_progress",
                        params={"states": "channel_unavailable"}).status_code == 204
        notifies = wait_for(lambda: len(n := phone.requests("NOTIFY")) >= 2 and n, 10, "two NOTIFYs")
        print("\nthe phone's NOTIFYs:", [(n["headers"].get("subscription-state"), n["body"].strip()) for n in notifies])
        assert [n["body"].strip() for n in notifies] == ["SIP/2.0 100 Trying", "SIP/2.0 503 Service Unavailable"]
        assert notifies[-1]["headers"]["subscription-state"][0].startswith("terminated")
        time.sleep(0.5)
        assert not phone.requests("BYE") and ari.get(f"/channels/{call.agent}").status_code == 200
        talking(ari, app, call.customer, AGENT_HZ, TONES)
        talking(ari, app, call.agent, CUSTOMER_HZ, TONES)
        # a second progress after the final one reaches no phone (the subscription is over): Asterisk says 204
        r = ari.post(f"/channels/{call.agent}/transfer_progress", params={"states": "channel_answered"})
        assert r.status_code == 204, r.text
        time.sleep(0.3)
        assert len(phone.requests("NOTIFY")) == 2
        # and a channel that never had a REFER: 204 as well, nothing sent
        r = ari.post(f"/channels/{call.customer}/transfer_progress", params={"states": "channel_progress"})
        print("transfer_progress on the customer's channel (no REFER):", r.status_code, r.text)
