"""The audit trail of a real call on the lab Asterisk: a click-to-call answered by an agent phone and a customer
(labkit.TalkingCarrier), hold (twice: the second refused), unhold, a supervisor listening, the hang-up; then
GET /v1/audit (the session's operator token: every scope, admin included) shows each action in order, with the
token's id (never the token), the client's address and the result."""

from __future__ import annotations

import uuid

import pytest

from click2call.tenants import derived_id, hash_token
from lab import labkit

from .conftest import HOTLINE_TALKING, TOKEN
from .helpers import final_record, talking_click, wait_connected, wait_for

pytestmark = pytest.mark.lab

AGENT, SUPERVISOR = "140", "139"  # phones of this module's own (121..140 are free for tests)


def test_each_action_on_a_real_call_is_audited_with_its_token_and_result(ari, api, talking_customer):
    phone = f"0907{uuid.uuid4().int % 10**6:06d}"
    with labkit.Phones({AGENT: ("uas_answer_audio", {"ring_ms": 300}, 1500),
                        SUPERVISOR: ("uas_answer_audio", {"ring_ms": 300}, 2000)}):
        call_id = talking_click(api, AGENT, phone)
        try:
            wait_connected(api, talking_customer, call_id, phone)
            assert api.post(f"/v1/call/{call_id}/hold", json={"legs": "bleg"}).status_code == 200
            again = api.post(f"/v1/call/{call_id}/hold", json={"legs": "bleg"})
            assert (again.status_code, again.json()["error"]) == (409, "ALREADY_HELD")
            assert api.post(f"/v1/call/{call_id}/unhold", json={"legs": "bleg"}).status_code == 200
            assert api.post(f"/v1/call/{call_id}/listen", json={"ext": SUPERVISOR}).status_code == 200
            wait_for(lambda: ari.get(f"/channels/{call_id}.supervisor-0").json().get("state") == "Up", 15,
                     "the supervisor up")
        finally:
            assert api.delete(f"/v1/call/{call_id}").status_code == 200
    assert final_record(api, call_id)["status"] == "ANSWERED"

    trail = api.get("/v1/audit", params={"call_id": call_id}).json()["data"][::-1]  # oldest first
    assert [(e["action"], e["status"], e["error"]) for e in trail] == [
        ("click_to_call", 200, ""), ("hold", 200, ""), ("hold", 409, "ALREADY_HELD"), ("unhold", 200, ""),
        ("listen", 200, ""), ("hangup", 200, "")]
    token_id = derived_id(hash_token(TOKEN))
    assert {(e["token_id"], e["tenant"], e["client"]) for e in trail} == {(token_id, "", "127.0.0.1")}
    assert TOKEN not in str(trail)
    click, hold, listen = trail[0], trail[1], trail[4]
    assert (click["extension"], click["target"], click["detail"]["hotline"]) == (AGENT, phone, HOTLINE_TALKING)
    assert hold["detail"] == {"legs": "bleg"} and listen["target"] == SUPERVISOR
    # the filters find the same entries: by action and token, within the time of the call
    listens = api.get("/v1/audit", params={"action": "listen", "token_id": token_id, "from": click["time"]}).json()
    assert [e["id"] for e in listens["data"]] == [listen["id"]]


def test_a_sync_click_the_agent_declines_is_audited_with_its_call(api):
    r = api.get("/v1/click2call", params={"ext": "114", "phone": "0907000114"})  # 114 declines (603)
    assert (r.status_code, r.json()["error"]) == (409, "CALL_REJECTED")
    entry = api.get("/v1/audit", params={"action": "click_to_call", "extension": "114", "limit": 1}).json()["data"][0]
    assert (entry["status"], entry["error"], entry["target"]) == (409, "CALL_REJECTED", "0907000114")
    record = api.get(f"/v1/cdr/{entry['call_id']}").json()  # the call it placed, by the entry's call_id
    assert (record["extension"], record["to_number"], record["status"]) == ("114", "0907000114", "BUSY")
