"""Tenants (C2C_TENANTS_FILE) on the real lab: a tenant's token rings only its extensions through its hotlines,
and never reads, hangs up or hooks another tenant's calls; hooks from the file get only their tenant's events."""

from __future__ import annotations

import base64

import httpx
import pytest

from click2call.tenants import hash_token

from .conftest import HOTLINE_A, HOTLINE_B, TOKEN
from .helpers import first_receipts, unique_phone, wait_for

pytestmark = pytest.mark.lab

ACME, BETA = "acme-lab-token-0123456789abcdef", "beta-lab-token-0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(b"click2call-lab-tenants-secret-01").decode()


def tenants_file(path, receiver) -> str:
    path.write_text(f"""
[[tenant]]
name = "acme"
tokens = ["{hash_token(ACME)}"]
extensions = ["101", "102", "103"]
hotlines = ["{HOTLINE_A}"]
  [[tenant.hook]]
  event = "hangup"
  callback_url = "{receiver.url('/acme')}"

[[tenant]]
name = "beta"
tokens = ["{BETA}"]
extension_pattern = "10[6-9]"
hotlines = ["{HOTLINE_B}=trunk-b"]
""")
    return str(path)


def as_(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def fail(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status and r.json()["status"] == "fail" and r.json()["error"] == code, r.text


def test_tenants_are_isolated(own_service, receiver, tmp_path):
    svc = own_service(C2C_TENANTS_FILE=tenants_file(tmp_path / "tenants.toml", receiver),
                      C2C_WEBHOOK_URL=receiver.url("/operator"), C2C_WEBHOOK_SECRET=SECRET, C2C_WEBHOOK_BACKOFF="0.2")

    def get(path, token, **params):
        return httpx.get(svc.base + path, params=params, headers=as_(token), timeout=30)

    # Refused before anything reaches Asterisk: another tenant's extension, another tenant's hotline.
    fail(get("/v1/click2call/async", ACME, ext="106", phone=unique_phone()), 403, "EXTENSION_NOT_ALLOWED")
    fail(get("/v1/click2call/async", ACME, ext="119", phone=unique_phone()), 403, "EXTENSION_NOT_ALLOWED")
    fail(get("/v1/click2call/async", ACME, ext="101", phone=unique_phone(), hotline=HOTLINE_B), 400,
         "HOTLINE_NOT_FOUND")
    fail(get("/v1/click2call/async", BETA, ext="101", phone=unique_phone()), 403, "EXTENSION_NOT_ALLOWED")
    assert get("/v1/cdr", TOKEN).json()["data"] == []  # no record was made by any refusal

    # Beta's hook, made through the API, is beta's alone.
    beta_hook = httpx.post(svc.base + "/v1/event", headers=as_(BETA), json={
        "event": "cdr", "callback_url": receiver.url("/beta")}).json()["data"]
    assert beta_hook["tenant"] == "beta" and not beta_hook["configured"]

    # A connected acme call (carrier A stays up): invisible to beta, and beta cannot hang it up.
    r = get("/v1/click2call", ACME, ext="101", phone=unique_phone(), record="true")
    assert r.status_code == 200, r.text
    acme_call = r.json()["call_id"]
    wait_for(lambda: get(f"/v1/cdr/{acme_call}", ACME).json()["legs"]["customer"]["time_answered"], 10,
             "the customer answering")
    assert [c["call_id"] for c in get("/v1/call", ACME).json()["data"]] == [acme_call]
    assert get("/v1/call", BETA).json()["data"] == []
    assert acme_call in [c["call_id"] for c in get("/v1/call", TOKEN).json()["data"]]
    fail(get(f"/v1/cdr/{acme_call}", BETA), 404, "CALL_NOT_FOUND")
    fail(httpx.post(f"{svc.base}/v1/call/{acme_call}/hangup", headers=as_(BETA)), 404, "CALL_NOT_FOUND")
    fail(httpx.delete(f"{svc.base}/v1/call/{acme_call}", headers=as_(BETA)), 404, "CALL_NOT_FOUND")
    assert get(f"/v1/cdr/{acme_call}", ACME).json()["status"] == "IN_PROGRESS"  # still up
    assert httpx.post(f"{svc.base}/v1/call/{acme_call}/hangup", headers=as_(ACME), timeout=30).status_code == 200

    # A beta call on its default hotline (carrier B answers, then hangs up).
    r = get("/v1/click2call", BETA, ext="107", phone=unique_phone())
    assert r.status_code == 200, r.text
    beta_call = r.json()["call_id"]
    wait_for(lambda: get(f"/v1/cdr/{beta_call}", BETA).json()["status"] == "ANSWERED", 15, "beta's call to end")

    acme_cdr, beta_cdr = get("/v1/cdr", ACME).json()["data"], get("/v1/cdr", BETA).json()["data"]
    assert [(c["id"], c["tenant"], c["hotline"]) for c in acme_cdr] == [(acme_call, "acme", HOTLINE_A)]
    assert [(c["id"], c["tenant"], c["hotline"]) for c in beta_cdr] == [(beta_call, "beta", HOTLINE_B)]
    assert {c["id"] for c in get("/v1/cdr", TOKEN).json()["data"]} == {acme_call, beta_call}
    assert get("/v1/cdr", BETA, extension="101").json()["data"] == []

    # Recordings follow the record: acme's is acme's (and the operator's).
    fail(get(f"/v1/recordings/{acme_call}", BETA), 404, "RECORDING_NOT_FOUND")
    assert get(f"/v1/recordings/{acme_call}", ACME).status_code == 200
    assert get(f"/v1/recordings/{acme_call}", TOKEN).status_code == 200

    # Webhooks: the tenants file's hook gets acme's hangup only; beta's hook beta's cdr only; the operator all.
    acme_hangup = wait_for(lambda: receiver.received("/acme", acme_call), 15, "acme's hook")
    assert [e["json"]["state"] for e in acme_hangup] == ["hangup"]
    assert [e["json"]["state"] for e in first_receipts(receiver, "/beta", beta_call, 1)] == ["cdr"]
    every_event = ["ringing", "answered", "ringing", "answered", "hangup", "cdr"]
    assert [e["json"]["state"] for e in first_receipts(receiver, "/operator", acme_call, 6)] == every_event
    assert [e["json"]["state"] for e in first_receipts(receiver, "/operator", beta_call, 6)] == every_event
    assert receiver.received("/acme", beta_call) == [] and receiver.received("/beta", acme_call) == []

    # Hooks are seen and changed only by their tenant (and the operator).
    acme_hooks = get("/v1/event", ACME).json()["data"]
    assert [(h["event"], h["configured"], h["tenant"]) for h in acme_hooks] == [("hangup", True, "acme")]
    assert [h["id"] for h in get("/v1/event", BETA).json()["data"]] == [beta_hook["id"]]
    assert {h["id"] for h in get("/v1/event", TOKEN).json()["data"]} == {acme_hooks[0]["id"], beta_hook["id"]}
    fail(get(f"/v1/event/{acme_hooks[0]['id']}/deliveries", BETA), 404, "HOOK_NOT_FOUND")
    delivery = get(f"/v1/event/{acme_hooks[0]['id']}/deliveries", ACME).json()["data"][0]
    fail(httpx.post(f"{svc.base}/v1/deliveries/{delivery['id']}/resend", headers=as_(BETA)), 404, "DELIVERY_NOT_FOUND")
    fail(httpx.delete(f"{svc.base}/v1/event/{acme_hooks[0]['id']}", headers=as_(BETA)), 404, "HOOK_NOT_FOUND")
    assert httpx.post(f"{svc.base}/v1/deliveries/{delivery['id']}/resend", headers=as_(ACME)).status_code == 200
    assert len(get("/v1/event", ACME).json()["data"]) == 1
