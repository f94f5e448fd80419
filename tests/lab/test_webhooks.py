"""Webhooks to a real HTTP receiver, from real calls: complete, ordered, signed, durable, and never lost."""

from __future__ import annotations

import base64
import signal
import time

import httpx
import pytest

from click2call.webhooks import signing

from .conftest import HOTLINE_B, TOKEN
from .helpers import SECRET, first_receipts, unique_phone, wait_for

pytestmark = pytest.mark.lab

HOOK_SECRET = "whsec_" + base64.b64encode(b"a-hook-of-its-own-secret-000002").decode()
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
CONNECTED_CALL = [("ringing", "agent"), ("answered", "agent"), ("ringing", "customer"), ("answered", "customer"),
                  ("hangup", "customer"), ("cdr", "")]


def webhook_service(own_service, receiver, **extra):
    return own_service(**{"C2C_WEBHOOK_URL": receiver.url("/all"), "C2C_WEBHOOK_SECRET": SECRET,
                          "C2C_WEBHOOK_BACKOFF": "0.2", **extra})


def call(svc, ext="110") -> str:
    """A call the customer answers and, 1.5 s later, hangs up (carrier B)."""
    r = httpx.get(svc.base + "/v1/click2call", params={"ext": ext, "phone": unique_phone(), "hotline": HOTLINE_B},
                  headers=HEADERS, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["call_id"]


def assert_complete_and_ordered(events: list[dict], secret: str = SECRET) -> None:
    assert [(e["json"]["state"], e["json"]["leg"]) for e in events] == CONNECTED_CALL
    assert [e["json"]["sequence"] for e in events] == list(range(1, len(CONNECTED_CALL) + 1))
    for e in events:
        signing.verify(secret, e["headers"], e["body"])
        assert e["headers"]["webhook-id"].startswith("msg_")


def test_a_real_call_sends_every_event_in_order_signed(own_service, receiver):
    svc = webhook_service(own_service, receiver)
    hook = httpx.post(svc.base + "/v1/event", headers=HEADERS, json={
        "callback_url": receiver.url("/hangup-only"), "event": "hangup", "callback_apikey": "Key crm-123",
        "secret": HOOK_SECRET}).json()["data"]
    assert hook["event"] == "hangup" and hook["has_secret"] and "secret" not in hook
    call_id = call(svc)

    events = first_receipts(receiver, "/all", call_id, 6)
    assert_complete_and_ordered(events)
    first = events[0]["json"]
    assert (first["call_id"], first["direction"], first["from_number"], first["hotline"]) == (
        call_id, "outbound", "110", HOTLINE_B)
    hangup, cdr = events[4]["json"], events[5]["json"]
    assert hangup["billsec"] >= 1 and hangup["duration"] >= hangup["billsec"] and hangup["cause"] == "NORMAL_CLEARING"
    assert cdr["cdr"]["id"] == call_id and cdr["cdr"]["status"] == "ANSWERED" and "recording_url" in cdr
    assert events[3]["json"]["sip_call_id"] == cdr["cdr"]["sip_call_id"]

    only = wait_for(lambda: receiver.received("/hangup-only", call_id), 10, "the hangup hook")
    assert [r["json"]["state"] for r in only] == ["hangup"]
    assert only[0]["headers"]["authorization"] == "Key crm-123"
    signing.verify(HOOK_SECRET, only[0]["headers"], only[0]["body"])
    with pytest.raises(signing.InvalidSignature):
        signing.verify(SECRET, only[0]["headers"], only[0]["body"])
    deliveries = httpx.get(f"{svc.base}/v1/event/{hook['id']}/deliveries", headers=HEADERS).json()["data"]
    assert [(d["event"], d["status"], d["attempts"]) for d in deliveries] == [("hangup", "delivered", 1)]


def test_receiver_failing_then_back_gets_everything_under_stable_ids(own_service, receiver):
    svc = webhook_service(own_service, receiver)
    receiver.status["/all"] = 503
    call_id = call(svc)
    wait_for(lambda: len(receiver.received("/all", call_id)) >= 3, 10, "a few refused attempts")
    receiver.status["/all"] = 200
    events = first_receipts(receiver, "/all", call_id, 6)
    assert_complete_and_ordered(events)
    wait_for(lambda: receiver.received("/all", call_id)[-1]["json"]["state"] == "cdr", 10, "cdr accepted")
    by_id: dict[str, set[bytes]] = {}
    for r in receiver.received("/all", call_id):
        by_id.setdefault(r["headers"]["webhook-id"], set()).add(r["body"])
    assert len(by_id) == 6 and all(len(bodies) == 1 for bodies in by_id.values())  # a repeat is the same event


def test_sigkill_before_delivery_still_delivers_after_restart(own_service, receiver):
    svc = webhook_service(own_service, receiver)
    receiver.stop()  # connection refused
    call_id = call(svc)
    wait_for(lambda: httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=HEADERS).json()["status"] != "IN_PROGRESS",
             15, "the call ended")
    svc.proc.send_signal(signal.SIGKILL)
    svc.proc.wait(5)
    receiver.start()
    svc.start()
    assert_complete_and_ordered(first_receipts(receiver, "/all", call_id, 6))


def test_a_delivery_handed_over_but_never_sent_before_sigkill_is_sent_after_restart(own_service, receiver):
    """A new delivery is leased to the process at birth and goes straight to its dispatcher, without a claim. Here
    one waits for the only sending slot (held by a slow receiver) when the process is killed: after the restart
    its lease runs out and it is sent, once, with the event's id."""
    svc = own_service(C2C_WEBHOOK_SECRET=SECRET, C2C_WEBHOOK_CONCURRENCY="1", C2C_WEBHOOK_TIMEOUT="5")
    # Both receivers are slow: the event's two deliveries (one per hook) race for the one slot, and whichever gets
    # it holds it while the other waits (the dispatcher keeps the order per call and hook, not across hooks).
    receiver.delay["/one"] = receiver.delay["/two"] = 4.0

    def hook(path: str) -> str:
        return httpx.post(svc.base + "/v1/event", headers=HEADERS,
                          json={"callback_url": receiver.url(path), "event": "ringing"}).json()["data"]["id"]

    hooks = {"/one": hook("/one"), "/two": hook("/two")}
    r = httpx.get(svc.base + "/v1/click2call/async", params={"ext": "112", "phone": unique_phone(),
                                                              "hotline": HOTLINE_B}, headers=HEADERS)
    call_id = r.json()["call_id"]
    sending = wait_for(lambda: next((p for p in hooks if receiver.received(p, call_id)), None), 3,
                       "the ringing at one hook, holding the only slot")
    waiting = next(p for p in hooks if p != sending)
    deliveries = lambda: httpx.get(f"{svc.base}/v1/event/{hooks[waiting]}/deliveries",  # noqa: E731
                                   headers=HEADERS).json()["data"]
    wait_for(deliveries, 3, "the ringing queued for the other hook")
    svc.proc.send_signal(signal.SIGKILL)
    svc.proc.wait(5)
    killed_at = time.time()
    assert receiver.received(waiting, call_id) == []  # never sent before the kill
    receiver.delay.clear()
    svc.start()

    # (The call goes on after the restart, adopted: the customer's ringing follows to both hooks.)
    agent_ringing = lambda path: [e for e in receiver.received(path, call_id)  # noqa: E731
                                  if e["json"]["leg"] == "agent"]
    got = wait_for(lambda: agent_ringing(waiting), 20, "the waiting delivery after the restart")
    assert len(got) == 1 and got[0]["at"] > killed_at
    signing.verify(SECRET, got[0]["headers"], got[0]["body"])
    first = [d for d in deliveries() if d["sequence"] == 1]
    assert [(d["status"], d["attempts"]) for d in first] == [("delivered", 1)]
    # The one in flight when the process died is sent again: at least once, with the same webhook-id.
    again = wait_for(lambda: len(agent_ringing(sending)) >= 2 and agent_ringing(sending), 20,
                     "the one in flight sent again")
    assert len({e["headers"]["webhook-id"] for e in again}) == 1
    assert [d["status"] for d in httpx.get(f"{svc.base}/v1/event/{hooks[sending]}/deliveries",
                                           headers=HEADERS).json()["data"] if d["sequence"] == 1] == ["delivered"]


def test_410_disables_the_hook(own_service, receiver):
    svc = own_service(C2C_WEBHOOK_SECRET=SECRET, C2C_WEBHOOK_BACKOFF="0.2")
    receiver.status["/gone"] = 410
    hook = httpx.post(svc.base + "/v1/event", headers=HEADERS,
                      json={"callback_url": receiver.url("/gone"), "event": "ringing"}).json()["data"]
    call_id = call(svc)
    wait_for(lambda: httpx.get(svc.base + "/v1/event", headers=HEADERS).json()["data"][0]["disabled"], 10, "disabled")
    wait_for(lambda: httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=HEADERS).json()["status"] != "IN_PROGRESS",
             15, "the call ended")
    assert len(receiver.received("/gone")) == 1  # the customer's ringing was never sent to a dead hook
    deliveries = httpx.get(f"{svc.base}/v1/event/{hook['id']}/deliveries", headers=HEADERS).json()["data"]
    assert [(d["event"], d["status"], d["last_status_code"]) for d in deliveries] == [("ringing", "failed", 410)]


def test_hook_api_refusals_and_resend(own_service, receiver):
    svc = own_service(C2C_WEBHOOK_SECRET=SECRET, C2C_WEBHOOK_BACKOFF="0.2")
    for body in ({"callback_url": receiver.url("/x"), "event": "dialled"},
                 {"callback_url": "ftp://127.0.0.1/x", "event": "hangup"},
                 {"callback_url": "not a url", "event": "hangup"}, {"event": "hangup"},
                 {"callback_url": receiver.url("/x"), "event": "hangup", "secret": "plain"},
                 {"callback_url": receiver.url("/x"), "event": "hangup", "callback_apikey": "a\r\nb"}, ["x"]):
        r = httpx.post(svc.base + "/v1/event", headers=HEADERS, json=body)
        assert r.status_code == 400 and r.json()["status"] == "fail", (body, r.text)
    assert httpx.delete(svc.base + "/v1/event/nope", headers=HEADERS).json()["error"] == "HOOK_NOT_FOUND"
    assert httpx.post(svc.base + "/v1/deliveries/nope/resend", headers=HEADERS).status_code == 404

    receiver.status["/rejects"] = 400  # a 4xx other than 410/429 is final: no retry
    hook = httpx.post(svc.base + "/v1/event", headers=HEADERS,
                      json={"callback_url": receiver.url("/rejects"), "event": "hangup"}).json()["data"]
    call_id = call(svc)
    failed = wait_for(lambda: [d for d in httpx.get(f"{svc.base}/v1/event/{hook['id']}/deliveries",
                                                    headers=HEADERS).json()["data"] if d["status"] == "failed"],
                      15, "the failed delivery")[0]
    assert failed["last_status_code"] == 400 and failed["attempts"] == 1 and failed["history"][0]["status_code"] == 400
    receiver.status["/rejects"] = 200
    assert httpx.post(f"{svc.base}/v1/deliveries/{failed['id']}/resend", headers=HEADERS).json()["status"] == "success"
    wait_for(lambda: len(receiver.received("/rejects", call_id)) == 2, 10, "the resent delivery")
    first, again = receiver.received("/rejects", call_id)
    assert first["headers"]["webhook-id"] == again["headers"]["webhook-id"] and first["body"] == again["body"]
    assert httpx.delete(f"{svc.base}/v1/event/{hook['id']}", headers=HEADERS).json()["status"] == "success"
    assert httpx.get(svc.base + "/v1/event", headers=HEADERS).json()["data"] == []


def test_a_crm_down_then_slow_for_long_loses_nothing_and_holds_up_no_call(own_service, receiver):
    """The CRM answers 500, then answers too slowly (past C2C_WEBHOOK_TIMEOUT), while calls go on: every call
    connects and is recorded as usual, every delivery keeps being retried (the attempts say why), and once the
    CRM is well again every event of every call arrives, complete and in order."""
    svc = webhook_service(own_service, receiver, C2C_WEBHOOK_BACKOFF="0.1", C2C_WEBHOOK_BACKOFF_MAX="2",
                          C2C_WEBHOOK_TIMEOUT="0.5")
    hook = httpx.post(svc.base + "/v1/event", headers=HEADERS, json={
        "callback_url": receiver.url("/hangups"), "event": "hangup"}).json()["data"]
    def hangup_attempts(n: int):
        """The hangup hook's deliveries, once there are n of them, each tried at least twice."""
        found = httpx.get(f"{svc.base}/v1/event/{hook['id']}/deliveries", headers=HEADERS).json()["data"]
        return found if len(found) == n and all(d["attempts"] >= 2 for d in found) else None

    def ended(call_id: str) -> None:  # the calls themselves go through as if nothing were wrong
        wait_for(lambda: httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=HEADERS).json()["status"] == "ANSWERED",
                 10, "the call's final record")

    receiver.status["/all"] = receiver.status["/hangups"] = 500
    calls = [call(svc, ext) for ext in ("104", "105")]
    for call_id in calls:
        ended(call_id)
    wait_for(lambda: hangup_attempts(2), 20, "the hangups refused with 500, again and again")
    receiver.status["/all"] = receiver.status["/hangups"] = 200
    receiver.delay["/all"] = receiver.delay["/hangups"] = 2.0  # 4x the timeout: every attempt times out
    calls += [call(svc, ext) for ext in ("106", "107")]
    for call_id in calls[2:]:
        ended(call_id)
    history = wait_for(lambda: hangup_attempts(4), 20, "the hangups of the later calls timing out, again and again")
    seen = {(a["status_code"], a["error"].split(":")[0]) for d in history for a in d["history"]}
    assert (500, "") in seen and (None, "Timeout") in seen, seen
    assert all(d["status"] == "pending" for d in history)  # still retried, not given up

    receiver.delay.clear()  # the CRM is well again
    for call_id in calls:
        assert_complete_and_ordered(first_receipts(receiver, "/all", call_id, 6, timeout=30))
        hangups = first_receipts(receiver, "/hangups", call_id, 1, timeout=30)
        assert hangups[0]["json"]["state"] == "hangup"
