"""Call records written as calls progress, read through the CDR API; calls in progress and hang-up by API."""

from __future__ import annotations

import time

import pytest

from .conftest import HOTLINE_A, HOTLINE_B, HOTLINE_BUSY
from .helpers import (
    agent_invite, assert_cleaned_up, click, fail, final_record, invite_to, record, unique_phone, wait_for,
)

pytestmark = pytest.mark.lab


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request, api):
    """Every records test runs on both databases: the session's service (SQLite) and its PostgreSQL twin."""
    return api if request.param == "sqlite" else request.getfixturevalue("pg_api")


def test_answered_call_record(api, ari, phones, carriers):
    phone = unique_phone()
    r = click(api, ext="108", phone=phone, hotline=HOTLINE_B, customer_id="crm-42")
    call_id = r.json()["call_id"]
    customer_invite = invite_to(carriers[HOTLINE_B], phone)
    rec = final_record(api, call_id)
    assert rec["id"] == call_id and rec["status"] == "ANSWERED" and rec["direction"] == "outbound"
    assert rec["extension"] == "108" and rec["to_number"] == phone and rec["from_number"] == HOTLINE_B
    assert rec["hotline"] == HOTLINE_B and rec["customer_id"] == "crm-42"
    assert rec["billsec"] >= 1 and rec["duration"] >= rec["billsec"]
    assert rec["hangup_by"] == "customer" and rec["cause"] == "NORMAL_CLEARING"
    for name in ("time_started", "time_answered", "time_ended"):
        assert len(rec[name]) == 19, rec  # YYYY-MM-DD HH:MM:SS
    assert rec["time_started"] <= rec["time_answered"] <= rec["time_ended"]
    # Each leg's SIP Call-ID is the one the phones saw, and finds the record.
    assert rec["sip_call_id"] == customer_invite["call_id"] == rec["legs"]["customer"]["sip_call_id"]
    agent_sip_id = agent_invite(phones["108"], call_id)["call_id"]
    assert rec["legs"]["agent"]["sip_call_id"] == agent_sip_id
    assert record(api, agent_sip_id)["id"] == call_id
    assert record(api, customer_invite["call_id"])["id"] == call_id
    assert_cleaned_up(ari, call_id)


@pytest.mark.parametrize("ext,status,cause", [("111", "BUSY", "USER_BUSY"), ("114", "BUSY", "CALL_REJECTED"),
                                             ("113", "NO_ANSWER", "NO_ANSWER")])
def test_unanswered_agent_records(api, phones, ext, status, cause):
    r = click(api, "/v1/click2call/async", ext=ext)
    call_id = r.json()["call_id"]
    rec = final_record(api, call_id)
    assert (rec["status"], rec["cause"], rec["hangup_by"]) == (status, cause, "agent"), rec
    assert rec["billsec"] == 0 and rec["time_answered"] == "" and rec["time_ended"]


def test_busy_customer_record(api, ari, phones, carriers):
    phone = unique_phone()
    r = click(api, ext="107", phone=phone, hotline=HOTLINE_BUSY)
    assert r.json()["status"] == "success"  # the agent answered; the customer's line is busy
    invite_to(carriers[HOTLINE_BUSY], phone)
    rec = final_record(api, r.json()["call_id"])
    assert (rec["status"], rec["cause"], rec["hangup_by"]) == ("BUSY", "USER_BUSY", "customer"), rec
    assert rec["billsec"] == 0 and rec["time_answered"] == "" and rec["legs"]["agent"]["time_answered"]
    assert_cleaned_up(ari, r.json()["call_id"])


def test_connected_call_listed_then_hung_up_by_api(api, ari, phones, carriers):
    phone = unique_phone()
    call_id = click(api, ext="109", phone=phone, hotline=HOTLINE_A, customer_id="crm-live-1").json()["call_id"]
    invite_to(carriers[HOTLINE_A], phone)
    wait_for(lambda: record(api, call_id)["time_answered"], 5, "customer answered")
    live = record(api, call_id)
    assert live["status"] == "IN_PROGRESS" and live["time_ended"] == ""  # written as the call goes
    listed = api.get("/v1/call").json()["data"]
    assert {"call_id": call_id, "extension": "109", "destination": phone, "customer_id": "crm-live-1"}.items() <= next(
        c for c in listed if c["call_id"] == call_id).items()
    time.sleep(1.1)
    r = api.delete(f"/v1/call/{call_id}")
    assert r.json() == {"status": "success", "call_id": call_id}
    rec = record(api, call_id)  # final as soon as the hang-up returns
    assert rec["status"] == "ANSWERED" and rec["hangup_by"] == "api" and rec["billsec"] >= 1
    assert call_id not in [c["call_id"] for c in api.get("/v1/call").json()["data"]]
    assert_cleaned_up(ari, call_id)
    fail(api.delete(f"/v1/call/{call_id}"), 404, "CALL_NOT_FOUND")
    fail(api.post(f"/v1/call/{call_id}/hangup"), 404, "CALL_NOT_FOUND")


def test_post_hangup_cancels_a_ringing_agent(api, phones):
    call_id = click(api, "/v1/click2call/async", ext="112", hotline=HOTLINE_B).json()["call_id"]  # rings 2.5 s
    assert api.post(f"/v1/call/{call_id}/hangup").json()["status"] == "success"
    rec = record(api, call_id)
    assert rec["status"] == "CANCELLED" and rec["hangup_by"] == "api"


def test_unknown_ids_and_bad_filters(api):
    fail(api.get("/v1/cdr/nope"), 404, "CALL_NOT_FOUND")
    for params in ({"status": "WHATEVER"}, {"start_date": "yesterday"}, {"limit": "0"}, {"limit": "x"},
                   {"page": "-1"}, {"min_duration": "abc"}, {"scroll_id": "!!"}, {"extension": "1 1"},
                   {"phone": "0899&x"}):
        fail(api.get("/v1/cdr", params=params), 400, "INVALID_PARAMETER")


def test_filters_and_both_paging_modes(api, phones):
    # Three quick refusals by the agent's phone give three records for extension 111.
    ids = []
    for _ in range(3):
        ids.append(click(api, "/v1/click2call/async", ext="111", hotline=HOTLINE_B).json()["call_id"])
        final_record(api, ids[-1])
    today = time.strftime("%Y-%m-%d", time.gmtime())
    by_ext = api.get("/v1/cdr", params={"extension": "111", "limit": 2, "page": 1, "start_date": today}).json()
    assert by_ext["limit"] == 2 and by_ext["page"] == 1 and by_ext["total"] >= 3 and len(by_ext["data"]) == 2
    assert all(item["extension"] == "111" for item in by_ext["data"])
    assert by_ext["data"][0]["time_started"] >= by_ext["data"][1]["time_started"]  # newest first
    assert api.get("/v1/cdr", params={"status": "BUSY", "extension": "111"}).json()["data"][0]["id"] == ids[-1]
    assert api.get("/v1/cdr", params={"status": "ANSWERED", "extension": "111"}).json()["data"] == []
    assert api.get("/v1/cdr", params={"end_date": "2000-01-01"}).json()["data"] == []
    # The cursor walks every record exactly once.
    seen, params = [], {"limit": 2}
    while True:
        page = api.get("/v1/cdr", params=params).json()
        seen += [item["id"] for item in page["data"]]
        if not page["scroll_id"]:
            break
        params = {"limit": 2, "scroll_id": page["scroll_id"]}
    total = api.get("/v1/cdr", params={"page": 1, "limit": 1}).json()["total"]
    assert len(seen) == len(set(seen)) == total
    assert set(ids) <= set(seen)
