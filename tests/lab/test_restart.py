"""SIGKILL of the service during a connected call: after a restart the call is found again, still
controllable, and its record ends complete. Runs its own service (own app name, port and database) so the
session's service is not disturbed."""

from __future__ import annotations

import signal

import httpx
import pytest

from .conftest import HOTLINE_A, TOKEN, Service
from .helpers import assert_cleaned_up, invite_to, leftovers, unique_phone, wait_for

pytestmark = pytest.mark.lab


HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def call_connected(svc: Service, carriers, ext: str = "110") -> str:
    phone = unique_phone()
    r = httpx.get(svc.base + "/v1/click2call", params={"ext": ext, "phone": phone, "hotline": HOTLINE_A},
                  headers=HEADERS, timeout=30)
    invite_to(carriers[HOTLINE_A], phone)
    call_id = r.json()["call_id"]
    wait_for(lambda: httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=HEADERS).json()["time_answered"], 5,
             "customer answered")
    return call_id


def kill(svc: Service) -> None:
    svc.proc.send_signal(signal.SIGKILL)
    svc.proc.wait(5)


def test_sigkill_mid_call_then_restart_adopts_the_call(own_service, carriers, ari):
    svc, headers = own_service(), HEADERS
    call_id = call_connected(svc, carriers)
    kill(svc)
    assert ari.get(f"/channels/{call_id}.customer").status_code == 200  # the call lives on in Asterisk

    svc.start()
    live = httpx.get(svc.base + "/v1/call", headers=headers).json()["data"]
    assert [c["call_id"] for c in live] == [call_id] and live[0]["state"] == "connected"
    assert httpx.get(svc.base + "/v1/click2call/async", params={"ext": "110", "phone": "0899"},
                     headers=headers).json()["error"] == "USER_BUSY"
    assert httpx.delete(f"{svc.base}/v1/call/{call_id}", headers=headers, timeout=15).json()["status"] == "success"
    rec = httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=headers).json()
    assert rec["status"] == "ANSWERED" and rec["hangup_by"] == "api" and rec["time_ended"]
    assert rec["billsec"] >= 1 and rec["legs"]["customer"]["sip_call_id"]  # it talked across the restart
    assert_cleaned_up(ari, call_id)


def test_call_that_ended_while_the_service_was_down_is_closed(own_service, carriers, ari):
    svc, headers = own_service(), HEADERS
    call_id = call_connected(svc, carriers)
    kill(svc)
    ari.delete(f"/channels/{call_id}.agent")
    ari.delete(f"/channels/{call_id}.customer")
    wait_for(lambda: leftovers(ari, call_id) == [f"{call_id}.bridge"], 10, "only the bridge left")

    svc.start()
    rec = wait_for(lambda: (r := httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=headers).json())["status"]
                   != "IN_PROGRESS" and r, 10, "record closed")
    # Nobody saw who hung up: the system closes it, with the cause that says the channels were lost.
    assert (rec["status"], rec["hangup_by"], rec["cause"]) == ("ANSWERED", "system", "NETWORK_OUT_OF_ORDER")
    assert rec["time_ended"] and rec["billsec"] <= rec["duration"]
    assert httpx.get(svc.base + "/v1/call", headers=headers).json()["data"] == []
    assert_cleaned_up(ari, call_id)  # the bridge too
