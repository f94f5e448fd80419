"""Click-to-call end to end: the real Asterisk, real SIP from sipp, `click2call serve` as a process."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import API_PORT, HOTLINE_A, HOTLINE_B, TOKEN
from .helpers import agent_invite, assert_cleaned_up, click, fail, final_record, invite_to, unique_phone, wait_for

pytestmark = pytest.mark.lab

def agent_state(ari, call_id: str) -> str | None:
    r = ari.get(f"/channels/{call_id}.agent")
    return r.json()["state"] if r.status_code == 200 else None


# ---- success paths ----


def test_sync_returns_only_after_the_agent_answered(api, ari, phones, carriers):
    phone = unique_phone()
    started = time.monotonic()
    r = click(api, ext="112", phone=phone, hotline=HOTLINE_B)  # 112 answers after 2.5 s
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success" and set(body) == {"status", "call_id"}
    assert elapsed >= 2.4
    assert agent_state(ari, body["call_id"]) == "Up"
    invite_to(carriers[HOTLINE_B], phone)  # then the customer is dialled
    assert_cleaned_up(ari, body["call_id"])
    assert final_record(api, body["call_id"])["status"] == "ANSWERED"  # over for the service too: 112 is free


def test_async_returns_while_the_agent_still_rings(api, ari, phones, carriers):
    phone = unique_phone()
    started = time.monotonic()
    r = click(api, "/v1/click2call/async", ext="112", phone=phone, hotline=HOTLINE_B)
    elapsed = time.monotonic() - started
    assert r.status_code == 200 and r.json()["status"] == "success", r.text
    call_id = r.json()["call_id"]
    assert elapsed < 1.5
    # Answered before the phone is rung (the extension is logged in, the call recorded); it rings at once after,
    # and the agent (who answers at 2.5 s) has not answered yet.
    wait_for(lambda: agent_state(ari, call_id) in ("Down", "Ringing"), 1, "the agent's phone to ring")
    invite_to(carriers[HOTLINE_B], phone, timeout=10)  # the call goes on without the client
    assert_cleaned_up(ari, call_id)


def test_agent_invite_carries_default_caller_id(api, ari, phones):
    r = click(api, "/v1/click2call/async", ext="101", hotline=HOTLINE_B)
    call_id = r.json()["call_id"]
    invite = agent_invite(phones["101"], call_id)
    assert invite["request_uri"].startswith("sip:101@")
    assert invite["from"].startswith('"Click2Call" <sip:101@'), invite["from"]
    assert invite["call_info"] is None and invite["alert_info"] is None
    assert_cleaned_up(ari, call_id)


def test_agent_invite_carries_src_caller_id_and_auto_answer(api, ari, phones):
    r = click(api, "/v1/click2call/async", ext="102", hotline=HOTLINE_B, src_cid_name="Nguyễn Văn A",
              src_cid_number="0281234567", auto_answer="true")
    call_id = r.json()["call_id"]
    invite = agent_invite(phones["102"], call_id)
    assert invite["from"].startswith('"Nguyễn Văn A" <sip:0281234567@'), invite["from"]
    assert "answer-after=0" in invite["call_info"]
    assert invite["alert_info"] == "info=alert-autoanswer"
    assert_cleaned_up(ari, call_id)


def test_customer_invite_goes_to_the_default_hotline_trunk_with_its_number(api, ari, phones, carriers):
    phone = unique_phone()
    r = click(api, ext="103", phone=phone)
    call_id = r.json()["call_id"]
    invite = invite_to(carriers[HOTLINE_A], phone)
    assert invite["request_uri"] == f"sip:{phone}@127.0.0.1:5070"
    assert f"<sip:{HOTLINE_A}@" in invite["from"], invite["from"]
    assert f"sip:{HOTLINE_A}@" in invite["pai"]
    assert "103" not in invite["from"] + invite["pai"]  # the agent's extension never reaches the carrier
    # The carrier on trunk-a stays up: the call is connected until someone hangs up.
    wait_for(lambda: ari.get(f"/channels/{call_id}.customer").json().get("state") == "Up", 5, "customer Up")
    ari.delete(f"/channels/{call_id}.agent")
    assert_cleaned_up(ari, call_id)


def test_hotline_chooses_trunk_and_dest_caller_id_is_sent(api, ari, phones, carriers):
    phone = unique_phone()
    r = click(api, ext="104", phone=phone, hotline=HOTLINE_B, dest_cid_name="ACME Support",
              dest_cid_number="0287999888")
    invite = invite_to(carriers[HOTLINE_B], phone)
    assert invite["request_uri"] == f"sip:{phone}@127.0.0.1:5071"
    assert invite["from"].startswith('"ACME Support" <sip:0287999888@'), invite["from"]
    assert "0287999888" in invite["pai"]
    assert not any(f"sip:{phone}@" in i["request_uri"] for i in carriers[HOTLINE_A].invites())
    assert_cleaned_up(ari, r.json()["call_id"])


def test_base64_phone_is_decoded(api, ari, carriers):
    phone = unique_phone()
    encoded = base64.b64encode(phone.encode()).decode()
    r = click(api, ext="105", phone=encoded, is_encode="true", hotline=HOTLINE_B)
    assert r.status_code == 200, r.text
    invite_to(carriers[HOTLINE_B], phone)
    assert_cleaned_up(ari, r.json()["call_id"])


def test_customer_hangup_ends_the_agent_leg_and_leaves_nothing(api, ari, phones, carriers):
    phone = unique_phone()
    r = click(api, ext="106", phone=phone, hotline=HOTLINE_B)  # carrier B hangs up after 1.5 s
    call_id = r.json()["call_id"]
    invite_to(carriers[HOTLINE_B], phone)
    assert_cleaned_up(ari, call_id)
    invite = agent_invite(phones["106"], call_id)
    wait_for(lambda: any(b["call_id"] == invite["call_id"] for b in phones["106"].requests("BYE")), 5,
             "BYE to the agent")


def test_ten_concurrent_click_to_calls_all_connect(api, ari, phones, carriers):
    numbers = {str(ext): unique_phone() for ext in range(101, 111)}
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda item: click(api, ext=item[0], phone=item[1], hotline=HOTLINE_B),
                                numbers.items()))
    assert all(r.status_code == 200 and r.json()["status"] == "success" for r in results), [r.text for r in results]
    call_ids = {r.json()["call_id"] for r in results}
    assert len(call_ids) == 10
    for phone in numbers.values():
        invite_to(carriers[HOTLINE_B], phone)
    # Every customer leg answered (the carrier then hangs up), and nothing is left behind.
    for ext, phone in numbers.items():
        inv = invite_to(carriers[HOTLINE_B], phone)
        wait_for(lambda: any(m["call_id"] == inv["call_id"] and m["method"] == "ACK"
                             for m in carriers[HOTLINE_B].messages()), 5, f"ACK of the 200 OK for {ext}")
    for call_id in call_ids:
        assert_cleaned_up(ari, call_id)


# ---- refusals ----


def test_unregistered_extension(api):
    fail(click(api, ext="119"), 409, "USER_NOT_REGISTERED")
    fail(click(api, "/v1/click2call/async", ext="119"), 409, "USER_NOT_REGISTERED")
    # The record written beside the extension's check is taken back: a refusal leaves none.
    assert api.get("/v1/cdr", params={"extension": "119"}).json()["data"] == []
    assert [c for c in api.get("/v1/call").json()["data"] if c["extension"] == "119"] == []


def test_busy_extension_sync_and_async(api, ari, phones):
    r = click(api, "/v1/click2call/async", ext="112", hotline=HOTLINE_B)  # rings for 2.5 s
    assert r.status_code == 200, r.text
    fail(click(api, ext="112"), 409, "USER_BUSY")
    fail(click(api, "/v1/click2call/async", ext="112"), 409, "USER_BUSY")
    assert_cleaned_up(ari, r.json()["call_id"])


def test_extension_busy_on_a_call_that_is_not_ours(api, ari, lab, phones):
    other = ari.post("/channels", params={"endpoint": "PJSIP/113", "app": "lab-other", "timeout": 10}).json()
    try:
        wait_for(lambda: ari.get("/endpoints/PJSIP/113").json()["channel_ids"], 5, "113 has a channel")
        fail(click(api, ext="113"), 409, "USER_BUSY")
    finally:
        ari.delete(f"/channels/{other['id']}")


@pytest.mark.parametrize("ext,code", [("111", "USER_BUSY"), ("114", "CALL_REJECTED")])
def test_declining_agent_fails_the_sync_request(api, ari, phones, carriers, ext, code):
    phone = unique_phone()
    fail(click(api, ext=ext, phone=phone), 409, code)
    time.sleep(0.5)
    assert not any(f"sip:{phone}@" in i["request_uri"] for c in carriers.values() for i in c.invites())


def test_agent_that_never_answers_times_out(api, phones):
    started = time.monotonic()
    fail(click(api, ext="113"), 409, "NO_ANSWER")  # C2C_RING_TIMEOUT=3
    assert 2.5 < time.monotonic() - started < 8


@pytest.mark.parametrize("phone", ["0899&PJSIP/2002", "0899@evil", "123,456", "0899 098", "0899\r\nX: y", "08\x0099"])
def test_hostile_phone_values_dial_nothing(api, ari, phones, carriers, phone):
    before = {ext: len(p.invites()) for ext, p in phones.items()}
    fail(api.get("/v1/click2call", params={"ext": "107", "phone": phone}), 400, "INVALID_PARAMETER")
    fail(api.get("/v1/click2call", params={"ext": "107", "phone": base64.b64encode(phone.encode()).decode(),
                                             "is_encode": "true"}), 400, "INVALID_PARAMETER")
    time.sleep(0.3)
    assert {ext: len(p.invites()) for ext, p in phones.items()} == before
    assert not [c for c in ari.get("/channels").json() if "107" in c["name"]]


def test_hostile_extension_and_caller_id_refused(api):
    fail(click(api, ext="101&PJSIP/2002"), 400, "INVALID_PARAMETER")
    fail(click(api, ext="101", src_cid_name='x"\r\nVia: evil'), 400, "INVALID_PARAMETER")
    fail(click(api, ext="101", dest_cid_number="0287;evil"), 400, "INVALID_PARAMETER")
    fail(click(api, ext="101", hotline="0287@x"), 400, "INVALID_PARAMETER")


def test_unknown_extension_hotline_and_missing_parameters(api):
    fail(click(api, ext="999"), 404, "EXTENSION_NOT_FOUND")
    fail(click(api, ext="trunk-a"), 404, "EXTENSION_NOT_FOUND")  # a trunk is never rung as an agent
    fail(click(api, ext="101", hotline="0999999999"), 400, "HOTLINE_NOT_FOUND")
    fail(api.get("/v1/click2call", params={"ext": "101"}), 400, "MISSING_PARAMETER")
    fail(api.get("/v1/click2call/async", params={"phone": "0899"}), 400, "MISSING_PARAMETER")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}])
def test_bad_or_missing_token(service, headers):
    r = httpx.get(f"http://127.0.0.1:{API_PORT}/v1/click2call", params={"ext": "101", "phone": "0899"},
                  headers=headers)
    fail(r, 401, "UNAUTHORIZED")


def test_health_and_readiness(service):
    assert httpx.get(f"http://127.0.0.1:{API_PORT}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"http://127.0.0.1:{API_PORT}/readyz").status_code == 200


def metric(text: str, name: str) -> float:
    """The value of one sample line `name value` in a Prometheus exposition."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_prometheus_metrics_count_what_happened(api, ari, phones, carriers):
    before = api.get("/metrics").text
    r = click(api, ext="103", hotline=HOTLINE_B)  # answered; the carrier hangs up after 1.5 s
    fail(click(api, ext="111"), 409, "USER_BUSY")  # the agent's phone answers 486
    assert_cleaned_up(ari, r.json()["call_id"])
    wait_for(lambda: metric(api.get("/metrics").text, 'click2call_calls_total{status="ANSWERED"}')
             > metric(before, 'click2call_calls_total{status="ANSWERED"}'), 10, "the answered call counted")
    after = api.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    assert metric(text, 'click2call_calls_total{status="BUSY"}') > metric(before, 'click2call_calls_total{status="BUSY"}')
    assert metric(text, 'click2call_ari_request_seconds_count{method="POST"}') > metric(
        before, 'click2call_ari_request_seconds_count{method="POST"}')
    wait_for(lambda: metric(api.get("/metrics").text, "click2call_active_calls") == 0, 10, "no call active")
    assert metric(text, "click2call_pending_sync_requests") == 0
    assert "click2call_webhook_queue_depth" in text and "click2call_ari_websocket_reconnects_total" in text
    assert TOKEN not in text


def test_json_logs_name_the_call_and_hold_no_secrets(own_service, lab, phones, carriers, ari):
    svc = own_service(C2C_LOG_FORMAT="json")
    r = httpx.get(svc.base + "/v1/click2call", params={"ext": "104", "phone": unique_phone(), "hotline": HOTLINE_B},
                  headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    call_id = r.json()["call_id"]
    assert_cleaned_up(ari, call_id)
    svc.stop()
    lines = [json.loads(line) for line in svc.log().splitlines()[-200:] if line.startswith("{")]
    about = [line for line in lines if call_id in line["message"]]
    assert about and all(line.get("call_id") == call_id for line in about)  # every line about the call says so
    assert any("ended" in line["message"] for line in about)
    text = svc.log()
    assert TOKEN not in text and lab["C2C_ARI_PASSWORD"] not in text and lab["LAB_PHONE_PASSWORD"] not in text
