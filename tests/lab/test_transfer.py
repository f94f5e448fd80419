"""Transfers through the service's API on the real Asterisk, proven by what each party hears: a click-to-call of
the session's service to an agent phone that says 1500 Hz, answered by a customer (labkit.TalkingCarrier on
trunk-f) who says 1000 Hz; the transfer target says 2000 Hz; the ring tone is 425 Hz. What a party hears is what
Asterisk sends to its channel (an ARI snoop in this module's own app, tests/lab/audio.py). The records and the
`transfer` webhook say what happened."""

from __future__ import annotations

import itertools
import time
import uuid

import pytest

from lab import labkit

from .audio import AriApp, heard
from .callkit import ring_tone, talking
from .conftest import HOTLINE_TALKING
from .helpers import final_record, first_receipts, talking_click, wait_connected, wait_for

pytestmark = pytest.mark.lab

TEST_APP = "c2c-transfer"
CUSTOMER_HZ, AGENT_HZ, TARGET_HZ, RING_HZ = 1000, 1500, 2000, 425
TONES = [CUSTOMER_HZ, AGENT_HZ, TARGET_HZ, RING_HZ]
AGENT, TARGET, DECLINING = "131", "132", "136"  # this module's phones (the transfer kit's, in another module)

_numbers = itertools.count(1)


def unique_customer() -> str:
    return f"0908{uuid.uuid4().int % 10**4:04d}{next(_numbers):02d}"


@pytest.fixture(scope="module")
def app(lab):
    with AriApp(lab, TEST_APP) as events:
        yield events


@pytest.fixture
def hook(api, receiver):
    r = api.post("/v1/event", json={"event": "transfer", "callback_url": receiver.url("/transfer"),
                                    "secret": "whsec_QUJDREVGR0hJSktMTU5PUA=="})
    assert r.status_code == 201, r.text
    yield
    api.delete(f"/v1/event/{r.json()['data']['id']}")


def ok(response) -> dict:
    assert response.status_code == 200 and response.json()["status"] == "success", response.text
    return response.json()


def refused(response, status: int, code: str) -> None:
    assert (response.status_code, response.json()["error"]) == (status, code), response.text


def channel_state(ari, channel_id: str) -> str | None:
    r = ari.get(f"/channels/{channel_id}")
    return r.json().get("state") if r.status_code == 200 else None


_placed: list[str] = []


@pytest.fixture(autouse=True)
def hang_up_leftovers(api):
    """A test that fails midway leaves no call behind to make the next one's agent busy."""
    yield
    while _placed:
        api.delete(f"/v1/call/{_placed.pop()}")


def connected_call(api, talking_customer) -> tuple[str, str]:
    phone = unique_customer()
    call_id = talking_click(api, AGENT, phone)
    _placed.append(call_id)
    wait_connected(api, talking_customer, call_id, phone)
    return call_id, phone


def transfer_events(receiver, call_id: str, n: int) -> list[tuple[str, int]]:
    return [(r["json"]["status"], r["json"]["transfer"])
            for r in first_receipts(receiver, "/transfer", call_id, n)]


def test_blind_transfer_the_customer_hears_ringback_then_the_target(ari, api, app, talking_customer, hook,
                                                                     receiver):
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ),
                        TARGET: ("uas_answer_audio", {"ring_ms": 2200}, TARGET_HZ)}):
        call_id, _ = connected_call(api, talking_customer)
        customer, agent, target = f"{call_id}.customer", f"{call_id}.agent", f"{call_id}.transfer-1"
        talking(ari, app, customer, AGENT_HZ, TONES)
        # the target is checked first: a refusal changes nothing
        refused(api.post(f"/v1/call/{call_id}/transfer", json={"ext": "999", "legs": "bleg"}), 404,
                "EXTENSION_NOT_FOUND")
        refused(api.post(f"/v1/call/{call_id}/transfer", json={"ext": "10;2", "legs": "bleg"}), 400,
                "INVALID_PARAMETER")
        refused(api.post("/v1/call/no-such-call/transfer", json={"ext": TARGET, "legs": "bleg"}), 404,
                "CALL_NOT_FOUND")
        talking(ari, app, customer, AGENT_HZ, TONES)

        body = ok(api.post(f"/v1/call/{call_id}/transfer", json={"ext": TARGET, "legs": "bleg"}))
        assert body == {"status": "success", "call_id": call_id, "ext": TARGET}
        # The target rings (up to the lab's C2C_RING_TIMEOUT, 3 s; it answers after 2.2 s): the customer hears the
        # ring tone from the target's 180 on, which starts with its 1 s "on" part.
        ringing = heard(ari, app, customer, 1.8)
        print("\nblind, the target rings: the customer hears", ringing)
        assert ring_tone(ringing), ringing
        assert channel_state(ari, agent) is None, "the agent's leg gone at once"
        refused(api.post(f"/v1/call/{call_id}/transfer", json={"ext": TARGET, "legs": "bleg"}), 409,
                "USER_BUSY")  # the target rings already
        refused(api.post(f"/v1/call/{call_id}/transfer", json={"ext": AGENT, "legs": "bleg"}), 409,
                "TRANSFER_IN_PROGRESS")  # the agent, free again, is refused by the call
        wait_for(lambda: channel_state(ari, target) == "Up", 10, "the target answering")
        talking(ari, app, customer, TARGET_HZ, TONES)
        talking(ari, app, target, CUSTOMER_HZ, TONES)
        assert api.get(f"/v1/cdr/{call_id}").json()["status"] == "IN_PROGRESS"
        # the target is the agent now: a hold of aleg holds it, and its hang-up ends the call
        assert ari.delete(f"/channels/{target}").status_code == 204
    record = final_record(api, call_id)
    assert record["status"] == "ANSWERED" and record["transferred_to"] == TARGET
    assert record["extension"] == AGENT and record["hangup_by"] == "agent"
    [leg] = record["legs"]["transfers"]
    assert (leg["status"], leg["mode"], leg["legs"], leg["target"]) == ("answered", "blind", "bleg", TARGET)
    assert leg["time_ringing"] and leg["time_answered"] and leg["time_ended"]
    assert [(a["action"], a["legs"], a["ext"]) for a in record["actions"]] == [("transfer", "bleg", TARGET)]
    assert transfer_events(receiver, call_id, 2) == [("started", 1), ("answered", 1)]


@pytest.mark.parametrize("hold", [False, True], ids=["talking-on", "hold"])
def test_attended_the_agent_leaves_only_when_the_target_answers(ari, api, app, talking_customer, hook, receiver,
                                                                hold):
    """While the target rings, agent and customer talk on; or, with hold, the customer hears music and the agent
    (alone in the bridge) no longer hears the customer."""
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ),
                        TARGET: ("uas_answer_audio", {"ring_ms": 2400}, TARGET_HZ)}):
        call_id, _ = connected_call(api, talking_customer)
        customer, agent, target = f"{call_id}.customer", f"{call_id}.agent", f"{call_id}.transfer-1"
        ok(api.post(f"/v1/call/{call_id}/transfer",
                    json={"ext": TARGET, "legs": "bleg", "mode": "attended", "hold": hold}))
        wait_for(lambda: channel_state(ari, target) == "Ringing", 10, "the target ringing")
        if hold:
            held = heard(ari, app, customer, 1.0)
            print("\nattended with hold, the target rings: the customer hears", held, held.shares(TONES))
            assert held.music(TONES), held
            by_agent = heard(ari, app, agent, 0.6, hz=CUSTOMER_HZ)
            assert by_agent.share(CUSTOMER_HZ) < 0.2, f"the agent still hears the held customer: {by_agent}"
        else:
            talking(ari, app, customer, AGENT_HZ, TONES, seconds=0.8)
            talking(ari, app, agent, CUSTOMER_HZ, TONES, seconds=0.8)
        assert channel_state(ari, target) == "Ringing", "the target answered while we listened"
        wait_for(lambda: channel_state(ari, agent) is None, 10, "the agent's leg gone once the target answered")
        talking(ari, app, customer, TARGET_HZ, TONES)
        talking(ari, app, target, CUSTOMER_HZ, TONES)
        ok(api.delete(f"/v1/call/{call_id}"))
    record = final_record(api, call_id)
    assert record["status"] == "ANSWERED" and record["transferred_to"] == TARGET
    [leg] = record["legs"]["transfers"]
    assert (leg["status"], leg["mode"], leg["hold"]) == ("answered", "attended", hold), leg
    assert transfer_events(receiver, call_id, 2) == [("started", 1), ("answered", 1)]


def test_attended_declined_leaves_agent_and_customer_talking(ari, api, app, talking_customer, hook, receiver):
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ),
                        DECLINING: ("uas_decline", {"code": 603, "ring_ms": 1500})}):
        call_id, _ = connected_call(api, talking_customer)
        customer, agent, target = f"{call_id}.customer", f"{call_id}.agent", f"{call_id}.transfer-1"
        ok(api.post(f"/v1/call/{call_id}/transfer", json={"ext": DECLINING, "legs": "bleg", "mode": "attended"}))
        wait_for(lambda: channel_state(ari, target) == "Ringing", 10, "the target ringing")
        wait_for(lambda: channel_state(ari, target) is None, 10, "the target declining")
        talking(ari, app, customer, AGENT_HZ, TONES)
        talking(ari, app, agent, CUSTOMER_HZ, TONES)
        assert api.get(f"/v1/cdr/{call_id}").json()["status"] == "IN_PROGRESS"
        ok(api.delete(f"/v1/call/{call_id}"))
    record = final_record(api, call_id)
    assert record["status"] == "ANSWERED" and record["transferred_to"] == ""
    [leg] = record["legs"]["transfers"]
    assert (leg["status"], leg["cause_code"]) == ("failed", 21), leg
    assert transfer_events(receiver, call_id, 2) == [("started", 1), ("failed", 1)]


def test_park_the_customer_hears_music_until_a_transfer_picks_it_up(ari, api, app, talking_customer):
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ),
                        TARGET: ("uas_answer_audio", {"ring_ms": 1500}, TARGET_HZ)}):
        call_id, _ = connected_call(api, talking_customer)
        customer, agent, target = f"{call_id}.customer", f"{call_id}.agent", f"{call_id}.transfer-1"
        ok(api.post(f"/v1/call/{call_id}/park", json={"legs": "bleg"}))
        wait_for(lambda: channel_state(ari, agent) is None, 10, "the agent's leg gone")
        parked = heard(ari, app, customer, 1.5)
        print("\nparked: the customer hears", parked, parked.shares(TONES))
        assert parked.music(TONES), parked
        refused(api.post(f"/v1/call/{call_id}/park", json={"legs": "bleg"}), 409, "ALREADY_PARKED")
        refused(api.post(f"/v1/call/{call_id}/transfer", json={"ext": TARGET, "legs": "aleg"}), 409, "CALL_PARKED")
        ok(api.post(f"/v1/call/{call_id}/transfer", json={"ext": TARGET, "legs": "bleg"}))
        wait_for(lambda: channel_state(ari, target) == "Up", 10, "the target answering")
        talking(ari, app, customer, TARGET_HZ, TONES)
        talking(ari, app, target, CUSTOMER_HZ, TONES)
        time.sleep(4)  # past C2C_PARK_TIMEOUT (4 s in the lab): picked up, the call goes on
        assert api.get(f"/v1/cdr/{call_id}").json()["status"] == "IN_PROGRESS"
        ok(api.delete(f"/v1/call/{call_id}"))
    record = final_record(api, call_id)
    assert record["transferred_to"] == TARGET
    assert [(a["action"], a["legs"]) for a in record["actions"]] == [("park", "bleg"), ("transfer", "bleg")]


def test_a_park_nobody_picks_up_ends_after_the_timeout(ari, api, app, talking_customer):
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ)}):
        call_id, _ = connected_call(api, talking_customer)
        ok(api.post(f"/v1/call/{call_id}/park", json={"legs": "bleg"}))
        parked_at = time.time()
        record = final_record(api, call_id, timeout=20)
    assert time.time() - parked_at >= 3.5, "ended before C2C_PARK_TIMEOUT (4 s)"
    assert record["status"] == "ANSWERED" and record["transferred_to"] == ""


REFERRING = "134"  # a phone that answers, talks, then sends a blind REFER to `target` (lab/sipp/uas_answer_refer.xml)


def test_a_blind_refer_from_the_agents_phone_moves_the_customer_to_the_target(ari, api, app, talking_customer,
                                                                              hook, receiver):
    with labkit.Phones({REFERRING: ("uas_answer_refer", {"ring_ms": 300, "refer_ms": 2500, "target": TARGET},
                                    AGENT_HZ),
                        TARGET: ("uas_answer_audio", {"ring_ms": 1000}, TARGET_HZ)}) as phones:
        phone = unique_customer()
        call_id = talking_click(api, REFERRING, phone)
        _placed.append(call_id)
        customer, target = f"{call_id}.customer", f"{call_id}.transfer-1"
        talking_customer.wait_answered(phone, 15)
        wait_for(lambda: channel_state(ari, target) == "Up", 15, "the REFER's target answering")
        notifies = wait_for(lambda: len(n := phones[REFERRING].requests("NOTIFY")) >= 2 and n, 10, "two NOTIFYs")
        assert [n["body"].strip() for n in notifies[:2]] == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]
        wait_for(lambda: channel_state(ari, f"{call_id}.agent") is None, 10, "the agent's leg gone")
        talking(ari, app, customer, TARGET_HZ, TONES)
        talking(ari, app, target, CUSTOMER_HZ, TONES)
        ok(api.delete(f"/v1/call/{call_id}"))
    record = final_record(api, call_id)
    assert record["status"] == "ANSWERED" and record["transferred_to"] == TARGET
    [leg] = record["legs"]["transfers"]
    assert (leg["status"], leg["by"], leg["mode"]) == ("answered", "phone", "blind")
    assert transfer_events(receiver, call_id, 2) == [("started", 1), ("answered", 1)]


def test_a_phone_that_hangs_up_right_after_its_refers_202_leaves_the_customer_with_the_target(
        ari, api, app, talking_customer, hook, receiver):
    """Some desk phones send BYE as soon as their blind REFER is accepted: the agent's leg ends before the service
    has even checked the target, and the call must go on as a blind transfer (nobody left to send NOTIFYs to)."""
    with labkit.Phones({REFERRING: ("uas_answer_refer", {"ring_ms": 300, "refer_ms": 2000, "target": TARGET,
                                                         "bye_after_202": 1}, AGENT_HZ),
                        TARGET: ("uas_answer_audio", {"ring_ms": 1000}, TARGET_HZ)}) as phones:
        phone = unique_customer()
        call_id = talking_click(api, REFERRING, phone)
        _placed.append(call_id)
        customer, target = f"{call_id}.customer", f"{call_id}.transfer-1"
        talking_customer.wait_answered(phone, 15)
        bye_ok = wait_for(lambda: [m for m in phones[REFERRING].messages()
                                   if m["status"] == 200 and (m["cseq"] or "").endswith("BYE")], 15,
                          "the phone's own BYE after the 202 answered")
        print("\nthe phone hung up after its REFER:", bye_ok[0]["start_line"], bye_ok[0]["cseq"])
        assert not phones[REFERRING].requests("BYE"), "Asterisk hung the phone up before it did"
        wait_for(lambda: channel_state(ari, target) == "Up", 15, "the REFER's target answering")
        talking(ari, app, customer, TARGET_HZ, TONES)
        talking(ari, app, target, CUSTOMER_HZ, TONES)
        assert api.get(f"/v1/cdr/{call_id}").json()["status"] == "IN_PROGRESS", "the phone's BYE ended the call"
        assert not talking_customer.got_bye(phone)
        ok(api.delete(f"/v1/call/{call_id}"))
    record = final_record(api, call_id)
    assert record["status"] == "ANSWERED" and record["transferred_to"] == TARGET
    assert record["extension"] == REFERRING and record["hangup_by"] == "api"
    [leg] = record["legs"]["transfers"]
    assert (leg["status"], leg["by"], leg["mode"], leg["target"]) == ("answered", "phone", "blind", TARGET), leg
    assert transfer_events(receiver, call_id, 2) == [("started", 1), ("answered", 1)]


DIALLING = "135"  # an agent's phone that dials out through the dialplan, then presses Transfer (labkit.PhoneCall)


def test_a_blind_refer_from_an_agent_who_dialled_out_moves_the_customer_to_the_target(ari, api, app, carriers, hook,
                                                                                       receiver):
    """The agent dialled the customer from the desk phone ([agents] _0X. -> Stasis(click2call,outbound): the
    agent's leg is Asterisk's channel, handed to the app, not one the service originated), then presses Transfer.
    The default hotline's carrier (trunk-a) says nothing: what the customer hears is measured (a snoop on its
    channel), not what it says."""
    number = unique_customer()
    with labkit.Phones({TARGET: ("uas_answer_audio", {"ring_ms": 1000}, TARGET_HZ)}), \
            labkit.PhoneCall(DIALLING, number, target=TARGET, audio_hz=AGENT_HZ) as phone:
        call_id = wait_for(lambda: (r := api.get(f"/v1/cdr/{phone.call_id}")).status_code == 200 and r.json()["id"],
                           10, "the handoff's record")
        _placed.append(call_id)
        customer, target = f"{call_id}.customer", f"{call_id}.transfer-1"
        wait_for(lambda: channel_state(ari, customer) == "Up", 10, "the customer answering")
        talking(ari, app, customer, AGENT_HZ, TONES)
        phone.refer()
        wait_for(lambda: channel_state(ari, target) == "Up", 15, "the REFER's target answering")
        notifies = wait_for(lambda: len(n := phone.requests("NOTIFY")) >= 2 and n, 10, "two NOTIFYs")
        assert [n["body"].strip() for n in notifies[:2]] == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]
        assert phone.wait_ended(10) == 0 and phone.requests("BYE"), "the agent's leg ended by Asterisk"
        talking(ari, app, customer, TARGET_HZ, TONES)
        assert api.get(f"/v1/cdr/{call_id}").json()["status"] == "IN_PROGRESS"
        ok(api.delete(f"/v1/call/{call_id}"))
    record = final_record(api, call_id)
    assert (record["direction"], record["extension"], record["to_number"]) == ("outbound", DIALLING, number)
    assert record["status"] == "ANSWERED" and record["transferred_to"] == TARGET and record["hangup_by"] == "api"
    [leg] = record["legs"]["transfers"]
    assert (leg["status"], leg["by"], leg["mode"], leg["legs"], leg["target"]) == (
        "answered", "phone", "blind", "bleg", TARGET), leg
    assert [(a["action"], a["legs"], a["ext"]) for a in record["actions"]] == [("transfer", "bleg", TARGET)]
    assert transfer_events(receiver, call_id, 2) == [("started", 1), ("answered", 1)]


def test_the_agent_side_moves_to_an_external_number_that_sees_the_hotline(ari, api, app, talking_customer, hook,
                                                                         receiver):
    """`legs: aleg` with `phone`: the customer leaves, the agent goes on with a number dialled through the call's
    hotline (the talking carrier answers it with 1000 Hz: after the customer's leg is gone, only it can say that)."""
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ)}):
        call_id, _ = connected_call(api, talking_customer)
        customer, agent, target = f"{call_id}.customer", f"{call_id}.agent", f"{call_id}.transfer-1"
        external = unique_customer()
        refused(api.post(f"/v1/call/{call_id}/transfer", json={"phone": "09;12", "legs": "aleg"}), 400,
                "INVALID_PARAMETER")
        body = ok(api.post(f"/v1/call/{call_id}/transfer", json={"phone": external, "legs": "aleg"}))
        assert body == {"status": "success", "call_id": call_id, "phone": external}
        wait_for(lambda: channel_state(ari, customer) is None, 10, "the customer's leg gone at once")
        invite = talking_customer.invite_for(external)
        assert f"<sip:{HOTLINE_TALKING}@" in invite["from"], invite["from"]
        talking_customer.wait_answered(external, 15)
        talking(ari, app, agent, CUSTOMER_HZ, TONES)
        talking(ari, app, target, AGENT_HZ, TONES)
        ok(api.delete(f"/v1/call/{call_id}"))
    record = final_record(api, call_id)
    assert record["status"] == "ANSWERED" and record["transferred_to"] == external
    assert record["hangup_by"] == "api"
    [leg] = record["legs"]["transfers"]
    assert (leg["status"], leg["legs"], leg["target"], leg["external"]) == ("answered", "aleg", external, True), leg
    assert transfer_events(receiver, call_id, 2) == [("started", 1), ("answered", 1)]


SUPERVISOR, SUPERVISOR_HZ = "133", 700


def test_a_transferred_call_is_supervised_on_its_new_agent(ari, api, app, talking_customer):
    """After a blind transfer of the customer, the target is the call's agent: a supervisor listening hears the
    customer and the target; barging, both hear the supervisor."""
    tones = [*TONES, SUPERVISOR_HZ]
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, AGENT_HZ),
                        TARGET: ("uas_answer_audio", {"ring_ms": 300}, TARGET_HZ),
                        SUPERVISOR: ("uas_answer_audio", {"ring_ms": 300}, SUPERVISOR_HZ)}):
        call_id, _ = connected_call(api, talking_customer)
        customer, target, supervisor = f"{call_id}.customer", f"{call_id}.transfer-1", f"{call_id}.supervisor-0"
        ok(api.post(f"/v1/call/{call_id}/transfer", json={"ext": TARGET, "legs": "bleg"}))
        wait_for(lambda: channel_state(ari, target) == "Up", 10, "the target answering")
        talking(ari, app, customer, TARGET_HZ, tones)
        ok(api.post(f"/v1/call/{call_id}/listen", json={"ext": SUPERVISOR}))
        wait_for(lambda: channel_state(ari, supervisor) == "Up", 10, "the supervisor answering")
        wait_for(lambda: (h := heard(ari, app, supervisor, 1.2)).share(CUSTOMER_HZ) > 0.2
                 and h.share(TARGET_HZ) > 0.2, 10, "the supervisor hearing the customer and the target")
        assert heard(ari, app, customer, 1.0).share(SUPERVISOR_HZ) < 0.05
        assert heard(ari, app, target, 1.0).share(SUPERVISOR_HZ) < 0.05
        ok(api.post(f"/v1/call/{call_id}/barge", json={"ext": SUPERVISOR}))
        wait_for(lambda: heard(ari, app, customer, 1.0).share(SUPERVISOR_HZ) > 0.2, 10,
                 "the customer hearing the supervisor")
        assert heard(ari, app, target, 1.0).share(SUPERVISOR_HZ) > 0.2
        ok(api.delete(f"/v1/call/{call_id}"))
    record = final_record(api, call_id)
    assert [(a["action"], a.get("ext")) for a in record["actions"]] == [
        ("transfer", TARGET), ("listen", SUPERVISOR), ("barge", SUPERVISOR)]
