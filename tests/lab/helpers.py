"""Helpers of the lab tests (imported by them; no test module imports another)."""

from __future__ import annotations

import base64
import contextlib
import time

SECRET = "whsec_" + base64.b64encode(b"click2call-lab-webhook-secret-01").decode()  # the webhooks' C2C_WEBHOOK_SECRET
# The services' C2C_SECRET_KEY (hooks' secrets and API keys are stored encrypted with it); a Fernet key.
SECRET_KEY = base64.urlsafe_b64encode(b"click2call-lab-secret-key-000001").decode()

HOTLINE_TALKING = "02873000006"  # trunk-f: the carrier is the test's own (`talking_customer`, labkit.TalkingCarrier)

_numbers = iter(range(100, 10_000))


def unique_phone() -> str:
    """Each test dials its own number, so its INVITE is found among the carrier's."""
    return f"0899{next(_numbers):06d}"


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def invite_to(sipp, phone: str, timeout=10.0) -> dict:
    return wait_for(lambda: next((i for i in sipp.invites() if f"sip:{phone}@" in i["request_uri"]), None),
                    timeout, f"INVITE for {phone}")


def agent_invite(sipp, call_id: str, timeout=10.0) -> dict:
    return wait_for(
        lambda: next((i for i in sipp.invites() if i["headers"].get("x-click2call-id") == [call_id]), None),
        timeout, f"agent INVITE of {call_id}")


def leftovers(ari, call_id: str) -> list[str]:
    objects = ari.get("/channels").json() + ari.get("/bridges").json()
    return [o["id"] for o in objects if o["id"].startswith(call_id)]


def assert_cleaned_up(ari, call_id: str, timeout=15.0) -> None:
    wait_for(lambda: not leftovers(ari, call_id), timeout, f"no channel or bridge of {call_id} left")


def click(api, path="/v1/click2call", **params):
    params.setdefault("phone", unique_phone())
    return api.get(path, params=params)


def talking_click(api, ext: str, phone: str) -> str:
    """A click-to-call from `ext` to `phone` through the talking carrier's hotline (`talking_customer`): its call_id."""
    r = api.get("/v1/click2call", params={"ext": ext, "phone": phone, "hotline": HOTLINE_TALKING})
    assert r.status_code == 200, r.text
    return r.json()["call_id"]


def wait_connected(api, carrier, call_id: str, phone: str) -> None:
    """The customer answered (the talking carrier's 200 OK ACKed) and the record says so."""
    carrier.wait_answered(phone, 15)
    wait_for(lambda: api.get(f"/v1/cdr/{call_id}").json()["time_answered"], 10, "the call connected")


def fail(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "fail" and body["error"] == code and body["message"], body


def record(api, key: str) -> dict:
    r = api.get(f"/v1/cdr/{key}")
    assert r.status_code == 200, r.text
    return r.json()


def final_record(api, call_id: str, timeout=15.0) -> dict:
    return wait_for(lambda: (rec := record(api, call_id))["status"] != "IN_PROGRESS" and rec, timeout,
                    f"final record of {call_id}")


def first_receipts(receiver, path, call_id, n, timeout=20.0) -> list[dict]:
    """Each distinct event once, in the order first received; waits until n distinct ones arrived."""
    def distinct():
        seen = {}
        for r in receiver.received(path, call_id):
            seen.setdefault(r["headers"]["webhook-id"], r)
        return list(seen.values()) if len(seen) >= n else None
    return wait_for(distinct, timeout, f"{n} webhook events for {call_id} on {path}")


@contextlib.contextmanager
def route_inbound(ari, app: str):
    """Inbound hotline calls go to Stasis app `app` while inside (extensions.conf's [from-hotline] hands them to
    ${C2C_INBOUND_APP}, a dialplan global that ARI sets); back to what it was after."""
    r = ari.get("/asterisk/variable", params={"variable": "C2C_INBOUND_APP"})
    assert r.status_code == 200, r.text
    before = r.json()["value"]
    r = ari.post("/asterisk/variable", params={"variable": "C2C_INBOUND_APP", "value": app})
    assert r.status_code == 204, r.text
    try:
        yield
    finally:
        ari.post("/asterisk/variable", params={"variable": "C2C_INBOUND_APP", "value": before})


def inbound_channel(ari, caller: str, timeout=10.0) -> dict:
    """The Asterisk channel of a carrier's inbound call from `caller` (Asterisk names its id; the service's app
    gets it in StasisStart), found through ARI GET /channels."""
    return wait_for(lambda: next((c for c in ari.get("/channels").json() if c["caller"]["number"] == caller
                                  and c["name"].startswith("PJSIP/trunk-")), None),
                    timeout, f"the inbound channel of {caller}")
