"""Agents on the real lab: the monitor (GET /v1/monitor/agent) follows a phone as it registers (its User-Agent and
address from the REGISTER), is rung by a click-to-call (RINGING), answers (ONCALL), hangs up (IDLE) and unregisters;
pause and resume through the API show in it; a tenant's monitor never lists another tenant's extensions; each change
is an agent event of the stream's log.

One service for the module (its own app name, port and SQLite file, with a tenants file)."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from click2call.tenants import hash_token
from lab import labkit

from .conftest import HOTLINE_A, TOKEN, Service, free_port, service_env
from .helpers import fail, unique_phone, wait_for

pytestmark = pytest.mark.lab

ACME, BETA = "acme-agents-token-0123456789abcd", "beta-agents-token-0123456789abcd"
AGENT, AGENT_PORT = "118", 5098  # a phone of this module's own: rings 3 s, then answers
OTHER = "120"  # beta's, registered by this module too
USER_AGENT = "PresenceLab/2.1"
TIMEOUT = 20  # seconds: a loaded machine is slow, never this slow


@pytest.fixture(scope="module")
def agents_service(lab, phones, carriers, tmp_path_factory):
    work = tmp_path_factory.mktemp("agents")
    tenants = work / "tenants.toml"
    tenants.write_text(f"""
[[tenant]]
name = "acme"
tokens = ["{hash_token(ACME)}"]
extensions = ["{AGENT}", "101"]
hotlines = ["{HOTLINE_A}"]

[[tenant]]
name = "beta"
tokens = ["{hash_token(BETA)}"]
extensions = ["{OTHER}", "102"]
hotlines = ["{HOTLINE_A}"]
""")
    env = service_env(lab, C2C_ARI_APP="click2call-agents", C2C_LISTEN=f"127.0.0.1:{free_port()}",
                      C2C_DATABASE_URL=f"sqlite:///{work}/calls.db", C2C_RECORDINGS_DIR=str(work / "rec"),
                      C2C_TENANTS_FILE=str(tenants), C2C_RING_TIMEOUT="15", LAB_SERVICE_SCOPE="module")
    phone = labkit.Sipp("uas_answer", AGENT_PORT, vars={"ring_ms": 3000}).start()
    svc = Service(env, str(work / "click2call.log")).start()
    try:
        yield svc, work / "calls.db"
    finally:
        svc.stop()
        phone.stop()
        for ext in (AGENT, OTHER):
            labkit.unregister([ext], AGENT_PORT)


def as_(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def monitor(svc: Service, token: str, **params) -> list[dict]:
    r = httpx.get(svc.base + "/v1/monitor/agent", params=params, headers=as_(token), timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "success", r.text
    return r.json()["data"]


def agent(svc: Service, token: str, ext: str) -> dict | None:
    return next((a for a in monitor(svc, token) if a["extension"] == ext), None)


def stream(db, ext: str) -> list[tuple[str, dict]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT event, body, tenant FROM stream_events WHERE extension = ? AND event IN "
                            "('registered', 'unregistered', 'state', 'paused', 'resumed') ORDER BY position",
                            (ext,)).fetchall()  # its agent events (its calls' events are there too)
    return [(event, {**json.loads(body), "tenant": tenant}) for event, body, tenant in rows]


def test_the_monitor_follows_a_phone_from_registration_through_a_call_to_unregistration(agents_service):
    svc, db = agents_service
    labkit.register([AGENT], AGENT_PORT, user_agent=USER_AGENT)
    seen = wait_for(lambda: agent(svc, ACME, AGENT), TIMEOUT, f"{AGENT} registered in the monitor")
    assert {k: seen[k] for k in ("registered", "call_state", "call_id", "call_time", "user_agent", "network_ip",
                                 "server_host", "paused", "destination", "direction")} == {
        "registered": True, "call_state": "IDLE", "call_id": "", "call_time": 0, "user_agent": USER_AGENT,
        "network_ip": "127.0.0.1", "server_host": "asterisk", "paused": False, "destination": "", "direction": ""}
    assert len(seen["since"]) == 19

    phone = unique_phone()
    r = httpx.get(svc.base + "/v1/click2call/async", params={"ext": AGENT, "phone": phone}, headers=as_(ACME),
                  timeout=30)
    assert r.status_code == 200, r.text
    call_id = r.json()["call_id"]
    ringing = wait_for(lambda: (a := agent(svc, ACME, AGENT)) and a["call_state"] == "RINGING" and a,
                       TIMEOUT, "RINGING while the phone rings")
    assert (ringing["call_id"], ringing["destination"], ringing["direction"]) == (call_id, phone, "outbound")
    oncall = wait_for(lambda: (a := agent(svc, ACME, AGENT)) and a["call_state"] == "ONCALL" and a,
                      TIMEOUT, "ONCALL once the phone answers")
    assert (oncall["call_id"], oncall["destination"]) == (call_id, phone)
    wait_for(lambda: agent(svc, ACME, AGENT)["call_time"] >= 1, TIMEOUT, "call_time counting")

    r = httpx.delete(f"{svc.base}/v1/call/{call_id}", headers=as_(ACME), timeout=30)
    assert r.status_code == 200, r.text
    idle = wait_for(lambda: (a := agent(svc, ACME, AGENT)) and a["call_state"] == "IDLE" and a,
                    TIMEOUT, "IDLE after the hang-up")
    assert (idle["call_id"], idle["call_time"], idle["registered"]) == ("", 0, True)

    labkit.unregister([AGENT], AGENT_PORT)
    wait_for(lambda: agent(svc, ACME, AGENT) is None, TIMEOUT, f"{AGENT} gone from the monitor")

    told = stream(db, AGENT)
    assert [(e, b["call_state"]) for e, b in told] == [
        ("registered", "IDLE"), ("state", "RINGING"), ("state", "ONCALL"), ("state", "IDLE"),
        ("unregistered", "IDLE")]
    assert {b["tenant"] for _, b in told} == {"acme"}
    assert told[0][1]["user_agent"] == USER_AGENT and told[1][1]["call_id"] == call_id


def test_pause_and_resume_show_in_the_monitor(agents_service):
    svc, db = agents_service
    wait_for(lambda: agent(svc, ACME, "101"), TIMEOUT, "101 (the session's phone) in acme's monitor")

    def post(path, token, **kw):
        return httpx.post(svc.base + path, headers=as_(token), timeout=30, **kw)

    r = post("/v1/agent/101/pause", ACME, json={"reason": "lunch"})
    assert r.json() == {"status": "success", "extension": "101", "paused": True}, r.text
    assert agent(svc, ACME, "101")["paused"] is True
    assert post("/v1/agent/101/pause", ACME).json()["paused"] is True  # again: nothing changes
    fail(post("/v1/agent/101/resume", BETA), 403, "EXTENSION_NOT_ALLOWED")
    fail(post("/v1/agent/trunk-a/pause", TOKEN), 404, "EXTENSION_NOT_FOUND")
    fail(post("/v1/agent/101/pause", ACME, json={"reason": "x" * 300}), 400, "INVALID_PARAMETER")
    assert agent(svc, ACME, "101")["paused"] is True

    assert post("/v1/agent/101/resume", ACME).json() == {"status": "success", "extension": "101", "paused": False}
    assert agent(svc, ACME, "101")["paused"] is False
    assert [e for e, _ in stream(db, "101") if e in ("paused", "resumed")] == ["paused", "resumed"]


def test_a_tenant_s_monitor_lists_only_its_own_extensions(agents_service):
    svc, _ = agents_service
    labkit.register([OTHER], AGENT_PORT, user_agent="BetaPhone")
    wait_for(lambda: agent(svc, BETA, OTHER), TIMEOUT, f"{OTHER} in beta's monitor")
    wait_for(lambda: agent(svc, ACME, "101"), TIMEOUT, "101 in acme's monitor")
    assert {a["extension"] for a in monitor(svc, ACME)} <= {AGENT, "101"}
    assert {a["extension"] for a in monitor(svc, BETA)} == {OTHER, "102"}
    assert monitor(svc, ACME, extension=OTHER) == []
    everyone = {a["extension"] for a in monitor(svc, TOKEN)}
    assert {"101", "102", OTHER} <= everyone and "trunk-a" not in everyone
    r = httpx.get(svc.base + "/v1/monitor/agent", params={"extension": "10 1"}, headers=as_(ACME), timeout=30)
    fail(r, 400, "INVALID_PARAMETER")
