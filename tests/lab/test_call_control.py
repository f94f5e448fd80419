"""Call control on the real Asterisk, proven by what each party hears: a click-to-call of the session's service to an
agent phone that says 1500 Hz, answered by a customer (labkit.TalkingCarrier on trunk-f) who says 1000 Hz; then hold,
unhold, mute, unmute and DTMF through the API. What a party hears is what Asterisk sends to its channel (an ARI snoop
in this module's own app, tests/lab/audio.py); DTMF is what the carrier received as RTP (RFC 4733)."""

from __future__ import annotations

import itertools
import time
import uuid

import pytest

from lab import labkit

from .audio import AUDIBLE_RMS, AriApp, heard
from .conftest import HOTLINE_TALKING
from .helpers import final_record, wait_for

pytestmark = pytest.mark.lab

TEST_APP = "c2c-call-control"
CUSTOMER_HZ, AGENT_HZ, RING_HZ = 1000, 1500, 425
TONES = [CUSTOMER_HZ, AGENT_HZ, 2000, RING_HZ]
AGENT = "138"  # a phone of this module's own (121..140 are free for tests)

_numbers = itertools.count(1)


def unique_customer() -> str:
    return f"0906{uuid.uuid4().int % 10**4:04d}{next(_numbers):02d}"


@pytest.fixture(scope="module")
def app(lab):
    with AriApp(lab, TEST_APP) as events:
        yield events


def hears(ari, app, channel_id: str, hz: int, seconds: float = 1.0):
    h = heard(ari, app, channel_id, seconds, hz=hz)
    assert h.rms >= AUDIBLE_RMS and h.dominant(TONES) == hz and h.share(hz) > 0.8, h
    return h


def hears_nothing(ari, app, channel_id: str, seconds: float = 1.0):
    h = heard(ari, app, channel_id, seconds)
    assert h.rms < AUDIBLE_RMS and not h.audible_frames, h


def control(api, call_id: str, action: str, **body):
    return api.post(f"/v1/call/{call_id}/{action}", json=body)


def ok(response) -> None:
    assert response.status_code == 200 and response.json()["status"] == "success", response.text


def refused(response, status: int, code: str) -> None:
    assert (response.status_code, response.json()["error"]) == (status, code), response.text


def test_hold_mute_and_dtmf_change_who_hears_whom(ari, api, app, talking_customer):
    phone = unique_customer()
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ)}):
        r = api.get("/v1/click2call", params={"ext": AGENT, "phone": phone, "hotline": HOTLINE_TALKING})
        assert r.status_code == 200, r.text
        call_id = r.json()["call_id"]
        customer, agent = f"{call_id}.customer", f"{call_id}.agent"
        refused(control(api, call_id, "hold", legs="bleg"), 409, "CALL_NOT_CONNECTED")  # the customer rings still
        talking_customer.wait_answered(phone, 15)
        wait_for(lambda: api.get(f"/v1/cdr/{call_id}").json()["time_answered"], 10, "the call connected")
        hears(ari, app, customer, AGENT_HZ)
        hears(ari, app, agent, CUSTOMER_HZ)

        # hold: the customer hears music, not the agent; the agent hears nobody
        ok(control(api, call_id, "hold", legs="bleg"))
        held = heard(ari, app, customer, 1.5)
        assert held.music(TONES), held
        hears_nothing(ari, app, agent)
        refused(control(api, call_id, "hold", legs="bleg"), 409, "ALREADY_HELD")
        refused(control(api, call_id, "dtmf", legs="bleg", digits="1"), 409, "PARTY_HELD")
        ok(control(api, call_id, "unhold", legs="bleg"))
        hears(ari, app, customer, AGENT_HZ)
        hears(ari, app, agent, CUSTOMER_HZ)

        # mute the agent: the customer no longer hears it; the agent still hears the customer
        ok(control(api, call_id, "mute", legs="aleg"))
        hears_nothing(ari, app, customer)
        hears(ari, app, agent, CUSTOMER_HZ)
        ok(control(api, call_id, "unmute", legs="aleg"))
        hears(ari, app, customer, AGENT_HZ)
        refused(control(api, call_id, "unmute", legs="aleg"), 409, "NOT_MUTED")

        # DTMF to the customer: the carrier receives exactly these digits
        since = time.time()
        ok(control(api, call_id, "dtmf", legs="bleg", digits="1234#"))
        wait_for(lambda: talking_customer.received_digits(phone, since) == "1234#", 15, "the digits at the carrier")

        # bad input changes nothing
        refused(control(api, call_id, "dtmf", legs="bleg", digits="12;3"), 400, "INVALID_PARAMETER")
        refused(control(api, call_id, "hold", legs="cleg"), 400, "INVALID_PARAMETER")
        refused(control(api, call_id, "hold"), 400, "INVALID_PARAMETER")
        refused(control(api, "no-such-call", "hold", legs="bleg"), 404, "CALL_NOT_FOUND")
        hears(ari, app, customer, AGENT_HZ)

        ok(api.delete(f"/v1/call/{call_id}"))
    record = final_record(api, call_id)
    assert record["status"] == "ANSWERED"
    assert [(a["action"], a["legs"]) for a in record["actions"]] == [
        ("hold", "bleg"), ("unhold", "bleg"), ("mute", "aleg"), ("unmute", "aleg"), ("dtmf", "bleg")]
    assert record["actions"][-1]["digits"] == "1234#"
    refused(control(api, call_id, "hold", legs="bleg"), 409, "CALL_ENDED")


def test_a_customer_who_hangs_up_while_held_ends_the_call(ari, api, app, talking_customer):
    phone = unique_customer()
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ)}) as phones:
        r = api.get("/v1/click2call", params={"ext": AGENT, "phone": phone, "hotline": HOTLINE_TALKING})
        assert r.status_code == 200, r.text
        call_id = r.json()["call_id"]
        talking_customer.wait_answered(phone, 15)
        wait_for(lambda: api.get(f"/v1/cdr/{call_id}").json()["time_answered"], 10, "the call connected")
        ok(control(api, call_id, "hold", legs="bleg"))
        assert ari.delete(f"/channels/{call_id}.customer").status_code == 204  # as if the customer hung up
        wait_for(lambda: phones[AGENT].requests("BYE"), 10, "the agent's leg hung up")
    record = final_record(api, call_id)
    assert (record["status"], record["hangup_by"]) == ("ANSWERED", "customer")
