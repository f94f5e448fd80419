"""Calls the dialplan hands to the app (asterisk-conf/extensions.conf): same trunk choice, caller ID, bridge and
records as the API. Real SIP: an agent phone dialling out, and a CRM-style originate through a Local/ channel."""

from __future__ import annotations

import time

import pytest

from lab import labkit

from .conftest import HOTLINE_A, HOTLINE_B
from .helpers import assert_cleaned_up, final_record, invite_to, unique_phone, wait_for

pytestmark = pytest.mark.lab


def test_agent_dialling_out_reaches_the_carrier_with_the_hotline_and_leaves_a_record(api, ari, service, carriers):
    phone = unique_phone()
    placed = labkit.place_call("115", phone, hold_ms=2500)  # 115 dials 0899...: [agents] _0X. -> Stasis(outbound)
    assert placed["returncode"] == 0
    invite = invite_to(carriers[HOTLINE_A], phone)  # the default hotline
    assert invite["request_uri"] == f"sip:{phone}@127.0.0.1:5070"
    assert f"<sip:{HOTLINE_A}@" in invite["from"] and f"sip:{HOTLINE_A}@" in invite["pai"]
    assert "115" not in invite["from"] + invite["pai"]
    agent_sip_id = next(m["call_id"] for m in placed["messages"] if m["status"] == 200)
    rec = wait_for(lambda: (r := api.get(f"/v1/cdr/{agent_sip_id}")).status_code == 200 and r.json(), 10, "record")
    rec = final_record(api, rec["id"])
    assert (rec["direction"], rec["extension"], rec["to_number"], rec["from_number"]) == (
        "outbound", "115", phone, HOTLINE_A)
    assert rec["status"] == "ANSWERED" and rec["hangup_by"] == "agent" and rec["billsec"] >= 1
    assert rec["legs"]["customer"]["sip_call_id"] == invite["call_id"]
    assert_cleaned_up(ari, rec["id"])


def test_crm_originate_through_a_local_channel_reaches_the_same_flow(api, ari, phones, carriers):
    phone = unique_phone()
    # What an AMI Originate or a call file does: ring the agent through Local/, on answer continue in the
    # click2call-originate context with the customer's number (here through ARI, as AMI is not enabled).
    ari.post("/channels", params={
        "endpoint": "Local/116@click2call-agents/n", "context": "click2call-originate", "extension": phone,
        "priority": 1, "callerId": "CRM <0281234567>"}, json={"variables": {"C2C_HOTLINE": HOTLINE_B}})
    invite = invite_to(carriers[HOTLINE_B], phone, timeout=15)
    assert f"<sip:{HOTLINE_B}@" in invite["from"]
    rec = wait_for(lambda: next((r for r in api.get("/v1/cdr", params={"extension": "116", "phone": phone}).json()
                                 ["data"]), None), 10, "record")
    rec = final_record(api, rec["id"])  # carrier B hangs up after 1.5 s
    assert (rec["direction"], rec["to_number"], rec["hotline"], rec["status"]) == ("outbound", phone, HOTLINE_B,
                                                                                     "ANSWERED")
    assert rec["hangup_by"] == "customer"
    assert_cleaned_up(ari, rec["id"])


@pytest.mark.parametrize("args", ["click2call,0899@evil", "click2call", "dial,0899098899",
                                  "click2call,0899098899,0287&1"])
def test_bad_stasis_arguments_end_the_call_and_dial_nothing(api, ari, service, phones, carriers, args):
    before = sum(len(c.invites()) for c in carriers.values())
    channel = ari.post("/channels", params={"endpoint": "PJSIP/117", "app": "click2call", "appArgs": args}).json()
    wait_for(lambda: ari.get(f"/channels/{channel['id']}").status_code == 404, 10, "the refused channel hung up")
    time.sleep(0.3)
    assert sum(len(c.invites()) for c in carriers.values()) == before
    assert api.get("/readyz").status_code == 200  # the service goes on
