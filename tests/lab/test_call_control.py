"""Call control on the real Asterisk, proven by what each party hears: a click-to-call of the session's service to an
agent phone that says 1500 Hz, answered by a customer (labkit.TalkingCarrier on trunk-f) who says 1000 Hz; then hold,
unhold, mute, unmute and DTMF through the API. What a party hears is what Asterisk sends to its channel (an ARI snoop
in this module's own app, tests/lab/audio.py); DTMF is what the carrier received as RTP (RFC 4733)."""

from __future__ import annotations

import itertools
import time
import uuid

import httpx
import pytest

from lab import labkit

from .audio import AUDIBLE_RMS, AriApp, Heard, heard, heard_rtp
from .conftest import TOKEN
from .helpers import final_record, talking_click, wait_connected, wait_for

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
        call_id = talking_click(api, AGENT, phone)
        customer, agent = f"{call_id}.customer", f"{call_id}.agent"
        refused(control(api, call_id, "hold", legs="bleg"), 409, "CALL_NOT_CONNECTED")  # the customer rings still
        wait_connected(api, talking_customer, call_id, phone)
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
        call_id = talking_click(api, AGENT, phone)
        wait_connected(api, talking_customer, call_id, phone)
        ok(control(api, call_id, "hold", legs="bleg"))
        assert ari.delete(f"/channels/{call_id}.customer").status_code == 204  # as if the customer hung up
        wait_for(lambda: phones[AGENT].requests("BYE"), 10, "the agent's leg hung up")
    record = final_record(api, call_id)
    assert (record["status"], record["hangup_by"]) == ("ANSWERED", "customer")


SUPERVISOR, SUPERVISOR_HZ = "137", 2000


def mix(capture: labkit.RtpCapture, source: int | None = None, seconds: float = 1.2) -> dict[int, float]:
    """The shares of the parties' tones in what a party's phone receives (its own RTP: a whisper is mixed into the
    agent's channel after what a snoop on it would record)."""
    h = heard_rtp(capture, seconds, source=source)
    return {hz: round(h.share(hz), 2) for hz in (CUSTOMER_HZ, AGENT_HZ, SUPERVISOR_HZ)}


@pytest.fixture
def hangs_up(api):
    """The calls a test placed: hung up after it, however it ended (a later test needs the agent free)."""
    placed: list[str] = []
    yield placed
    for call_id in placed:
        api.delete(f"/v1/call/{call_id}")


def test_listen_whisper_barge_switch_without_a_new_ring(ari, api, app, talking_customer, hangs_up, receiver):
    phone = unique_customer()
    hook = api.post("/v1/event", json={"event": "supervision", "callback_url": receiver.url("/supervision"),
                                       "secret": "whsec_QUJDREVGR0hJSktMTU5PUA=="})
    assert hook.status_code == 201, hook.text
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ),
                        SUPERVISOR: ("uas_answer_audio", {"ring_ms": 300}, SUPERVISOR_HZ)}) as phones, \
            labkit.RtpCapture(phones[AGENT].media_port) as agent_rtp, \
            labkit.RtpCapture(phones[SUPERVISOR].media_port) as supervisor_rtp:
        call_id = talking_click(api, AGENT, phone)
        supervisor = f"{call_id}.supervisor-0"
        hangs_up.append(call_id)
        refused(api.post(f"/v1/call/{call_id}/listen", json={"ext": SUPERVISOR}), 409, "CALL_NOT_CONNECTED")
        wait_connected(api, talking_customer, call_id, phone)
        source = talking_customer.media_source(phone)
        customer, agent = (talking_customer.rtp, source), (agent_rtp, None)

        # listen: the supervisor hears both parties; neither hears it
        ok(api.post(f"/v1/call/{call_id}/listen", json={"ext": SUPERVISOR}))
        wait_for(lambda: ari.get(f"/channels/{supervisor}").json().get("state") == "Up", 15, "the supervisor up")
        wait_for(lambda: (m := mix(supervisor_rtp))[CUSTOMER_HZ] > 0.2 and m[AGENT_HZ] > 0.2, 10,
                 "the supervisor hearing both parties")
        for party in (customer, agent):
            assert mix(*party)[SUPERVISOR_HZ] < 0.05, party

        # whisper: only the agent hears the supervisor
        ok(api.post(f"/v1/call/{call_id}/whisper", json={"ext": SUPERVISOR}))
        wait_for(lambda: mix(*agent)[SUPERVISOR_HZ] > 0.2, 10, "the agent hearing the supervisor")
        assert mix(*customer)[SUPERVISOR_HZ] < 0.05
        heard_by_supervisor = mix(supervisor_rtp)
        assert heard_by_supervisor[CUSTOMER_HZ] > 0.2 and heard_by_supervisor[AGENT_HZ] > 0.2, heard_by_supervisor

        # barge: all three hear each other
        ok(api.post(f"/v1/call/{call_id}/barge", json={"ext": SUPERVISOR}))
        wait_for(lambda: mix(*customer)[SUPERVISOR_HZ] > 0.2, 10, "the customer hearing the supervisor")
        assert mix(*agent)[SUPERVISOR_HZ] > 0.2
        assert len(phones[SUPERVISOR].invites()) == 1, "switching modes rings no one again"

        # back to listen, then the supervisor hangs up: only its part ends
        ok(api.post(f"/v1/call/{call_id}/listen", json={"ext": SUPERVISOR}))
        wait_for(lambda: mix(*customer)[SUPERVISOR_HZ] < 0.05, 10, "the supervisor silent again")
        assert ari.delete(f"/channels/{supervisor}").status_code == 204
        hears(ari, app, f"{call_id}.customer", AGENT_HZ)
        hears(ari, app, f"{call_id}.agent", CUSTOMER_HZ)
        assert not ari.get(f"/bridges/{call_id}.supervise-0").status_code == 200, "its bridge is gone"
        ok(api.delete(f"/v1/call/{call_id}"))
    record = final_record(api, call_id)
    assert record["status"] == "ANSWERED"
    assert [(a["action"], a["ext"]) for a in record["actions"]] == [
        ("listen", SUPERVISOR), ("whisper", SUPERVISOR), ("barge", SUPERVISOR), ("listen", SUPERVISOR)]
    assert [(leg["extension"], leg["mode"], bool(leg["time_answered"]), bool(leg["time_ended"]))
            for leg in record["legs"]["supervisors"]] == [(SUPERVISOR, "listen", True, True)]
    # a hook subscribed to `supervision` hears of each mode and the end, in order
    told = lambda: [r["json"] for r in receiver.received("/supervision", call_id)]  # noqa: E731
    wait_for(lambda: len(told()) >= 5, 15, "the supervision events")
    assert [(e["supervisor"], e["mode"]) for e in sorted(told(), key=lambda e: e["sequence"])] == [
        (SUPERVISOR, "listen"), (SUPERVISOR, "whisper"), (SUPERVISOR, "barge"), (SUPERVISOR, "listen"),
        (SUPERVISOR, "ended")]
    api.delete(f"/v1/event/{hook.json()['data']['id']}")


def test_a_supervisor_must_be_a_free_registered_extension(api, talking_customer, hangs_up):
    phone = unique_customer()
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ)}):
        call_id = talking_click(api, AGENT, phone)
        hangs_up.append(call_id)
        wait_connected(api, talking_customer, call_id, phone)
        refused(api.post(f"/v1/call/{call_id}/listen", json={"ext": "139"}), 409, "USER_NOT_REGISTERED")
        refused(api.post(f"/v1/call/{call_id}/listen", json={"ext": AGENT}), 409, "USER_BUSY")  # the agent itself
        refused(api.post(f"/v1/call/{call_id}/listen", json={"ext": "nosuchext"}), 404, "EXTENSION_NOT_FOUND")
        refused(api.post(f"/v1/call/{call_id}/listen", json={"ext": "trunk-a"}), 404, "EXTENSION_NOT_FOUND")
        refused(api.post(f"/v1/call/{call_id}/barge", json={"ext": "10@1"}), 400, "INVALID_PARAMETER")
        refused(api.post(f"/v1/call/{call_id}/whisper", json={}), 400, "INVALID_PARAMETER")
        ok(api.delete(f"/v1/call/{call_id}"))
    assert final_record(api, call_id)["actions"] == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_with_the_operators_setting_the_agent_hears_a_beep_when_a_supervisor_joins(own_service, ari,
                                                                                   talking_customer):
    """C2C_SUPERVISION_BEEP=true: the agent hears a short beep when a supervisor starts listening; the customer does
    not. The customer is muted first, so the agent hears silence but for the beep (what its phone receives as RTP)."""
    svc = own_service(C2C_SUPERVISION_BEEP="true")
    phone = unique_customer()
    with httpx.Client(base_url=svc.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as api, \
            labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ),
                           SUPERVISOR: ("uas_answer_audio", {"ring_ms": 300}, SUPERVISOR_HZ)}) as phones, \
            labkit.RtpCapture(phones[AGENT].media_port) as agent_rtp:
        call_id = talking_click(api, AGENT, phone)
        try:
            wait_connected(api, talking_customer, call_id, phone)
            source = talking_customer.media_source(phone)
            ok(control(api, call_id, "mute", legs="bleg"))
            wait_for(lambda: heard_rtp(agent_rtp, 0.6).rms < AUDIBLE_RMS, 10, "the agent hearing nothing")
            since = time.time()
            ok(api.post(f"/v1/call/{call_id}/listen", json={"ext": SUPERVISOR}))
            wait_for(lambda: ari.get(f"/channels/{call_id}.supervisor-0").json().get("state") == "Up", 15,
                     "the supervisor up")
            time.sleep(2.0)
            until = time.time()
            by_agent = Heard(agent_rtp.samples(since, until), until - since, hz=SUPERVISOR_HZ)
            by_customer = Heard(talking_customer.rtp.samples(since, until, source), until - since, hz=AGENT_HZ)
            print("\nthe agent hears", by_agent, "\nthe customer hears", by_customer)
            beep = by_agent.audible_frames
            assert 1 <= len(beep) <= 4, f"no short beep for the agent: {by_agent}"  # 200 ms frames
            assert all(share < 0.2 for _, share in beep), "the agent hears the listening supervisor"
            assert by_customer.frames and all(share > 0.8 for _, share in by_customer.frames), \
                f"the customer heard more than the agent: {by_customer}"
        finally:
            api.delete(f"/v1/call/{call_id}")
