"""Agents on a real database (SQLite file and PostgreSQL): the presence store (rows with the call an agent is on, the
stream's agent events in the same transaction, what a restart reads back, availability for ring groups), and the API
through the service's real routes: pause/resume (idempotent, refusals), the monitor's shape and tenant isolation."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from types import MappingProxyType

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from click2call.agent_store import AgentAvailability, AgentStore, Change, available
from click2call.agents import AgentsService
from click2call.config import Settings
from click2call.db import GroupCommit, stream_events
from click2call.errors import ApiError
from click2call.http.app import api_error, http_error, internal_error
from click2call.http.routes import routes
from click2call.records import CallStore
from click2call.stasis_app.presence import Presence
from click2call.states import AgentCallState, AgentEvent

from .factories import AGENT_RINGS, Call
from .helpers import UTC

OPERATOR, ACME, BETA = "operator-token-0123456789", "acme-token-0123456789ab", "beta-token-0123456789ab"
TENANTS = f"""
[[tenant]]
name = "acme"
tokens = ["{ACME}"]
extensions = ["101", "102", "103"]
hotlines = ["02873000001"]

[[tenant]]
name = "beta"
tokens = ["{BETA}"]
extension_pattern = "2[0-9][0-9]"
hotlines = ["02873000001"]
"""


@pytest.fixture
async def agents(engine, tmp_path):
    path = tmp_path / "tenants.toml"
    path.write_text(TENANTS)
    settings = Settings.from_env({"C2C_API_TOKENS": OPERATOR, "C2C_HOTLINES": "02873000001=trunk-a",
                                  "C2C_TENANTS_FILE": str(path)})
    directory = settings.directory()
    write = GroupCommit(engine)
    store = AgentStore(engine, write, lambda ext: directory.owner_of(ext).name)
    app = Starlette(routes=routes,
                    exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: internal_error})
    app.state.directory = directory
    app.state.agents = AgentsService(store, UTC, frozenset(settings.trunks()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://click2call.test") as api:
        yield store, api, CallStore(engine, write=write)
    await write.close()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def fails(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["status"] == "fail" and response.json()["error"] == code, response.text


async def told(engine, ext: str | None = None) -> list[dict]:
    query = sa.select(stream_events).order_by(stream_events.c.position)
    if ext is not None:
        query = query.where(stream_events.c.extension == ext)
    async with engine.connect() as conn:
        return [{**r, "body": json.loads(r["body"])} for r in (await conn.execute(query)).mappings()]


def registered(ext: str, at: float, **kw) -> Presence:
    return Presence(ext, online=True, contact=f"sip:{ext}@192.0.2.7:5060", user_agent="Zoiper 5",
                    network_ip="192.0.2.7", registered_since=at, **{"state_since": at, **kw})


async def test_presence_is_written_with_the_call_it_is_on_and_told_to_the_stream(agents, engine):
    store, _, calls = agents
    call = await Call(calls, ext="101", tenant="acme", phone="0899000111").run([AGENT_RINGS])
    now = time.time()
    idle = registered("101", now - 60)
    ringing = replace(idle, channels=MappingProxyType({f"{call.call_id}.agent": "Ringing"}),
                      call_state=AgentCallState.RINGING, state_since=now)
    await store.save("node-a", [Change(idle, (AgentEvent.REGISTERED,)), Change(ringing, (AgentEvent.STATE,))])

    async with engine.connect() as conn:
        row = (await conn.execute(sa.text("SELECT * FROM agent_presence"))).mappings().one()
    assert (row["node"], row["extension"], row["registered"], row["call_state"], row["call_id"], row["destination"],
            row["direction"], row["user_agent"], row["network_ip"]) == (
        "node-a", "101", True, "RINGING", call.call_id, "0899000111", "outbound", "Zoiper 5", "192.0.2.7")
    events = await told(engine)
    assert [(e["event"], e["tenant"], e["extension"], e["call_id"]) for e in events] == [
        ("registered", "acme", "101", None), ("state", "acme", "101", call.call_id)]
    body = events[1]["body"]
    assert set(body) == {"extension", "event", "registered", "paused", "call_state", "call_id", "user_agent",
                         "network_ip", "node", "timestamp"}
    assert (body["event"], body["call_state"], body["call_id"], body["node"], body["registered"], body["paused"]) == (
        "state", "RINGING", call.call_id, "node-a", True, False)

    # Idle again: no call; what a restart reads back is what was written (its channels aside).
    ended = replace(ringing, channels=MappingProxyType({}), call_state=AgentCallState.IDLE, state_since=now + 5,
                    idle_since=now + 5)
    await store.save("node-a", [Change(ended, (AgentEvent.STATE,))])
    back = (await store.presence("node-a"))["101"]
    assert back == ended and await store.presence("node-b") == {}
    assert [e["body"]["call_id"] for e in await told(engine)][-1] == ""

    # An endpoint no longer configured: told, and its row goes.
    await store.save("node-a", [Change(replace(back, online=False, contact=""), (AgentEvent.UNREGISTERED,), True)])
    assert await store.presence("node-a") == {}
    assert (await told(engine))[-1]["event"] == "unregistered"


async def test_pause_and_resume_are_idempotent_and_told_once(agents, engine):
    store, api, _ = agents
    r = await api.post("/v1/agent/101/pause", headers=auth(ACME), json={"reason": "lunch"})
    assert r.status_code == 200 and r.json() == {"status": "success", "extension": "101", "paused": True}, r.text
    r = await api.post("/v1/agent/101/pause", headers=auth(ACME))  # again, no body
    assert r.json() == {"status": "success", "extension": "101", "paused": True}
    async with engine.connect() as conn:
        row = (await conn.execute(sa.text("SELECT * FROM agents WHERE extension = '101'"))).mappings().one()
    assert (row["paused"], row["reason"]) == (True, "lunch") and row["paused_at"] is not None
    assert (await available(engine, "node-a", ["101", "201"]))["101"].paused is True

    for _ in range(2):
        r = await api.post("/v1/agent/101/resume", headers=auth(OPERATOR))
        assert r.json() == {"status": "success", "extension": "101", "paused": False}
    events = await told(engine, "101")
    assert [(e["event"], e["tenant"], e["body"]["paused"]) for e in events] == [
        ("paused", "acme", True), ("resumed", "acme", False)]
    assert events[0]["body"]["node"] == "" and events[0]["body"]["registered"] is False  # never seen on a node


async def test_pause_refuses_what_is_not_the_caller_s_agent_and_changes_nothing(agents, engine):
    _, api, _ = agents
    fails(await api.post("/v1/agent/201/pause", headers=auth(ACME)), 403, "EXTENSION_NOT_ALLOWED")
    fails(await api.post("/v1/agent/101/resume", headers=auth(BETA)), 403, "EXTENSION_NOT_ALLOWED")
    fails(await api.post("/v1/agent/trunk-a/pause", headers=auth(OPERATOR)), 404, "EXTENSION_NOT_FOUND")
    fails(await api.post("/v1/agent/trunk-a/pause", headers=auth(ACME)), 404, "EXTENSION_NOT_FOUND")
    fails(await api.post("/v1/agent/a%20b/pause", headers=auth(OPERATOR)), 400, "INVALID_PARAMETER")
    fails(await api.post("/v1/agent/101/pause", headers=auth(ACME), json={"reason": "x" * 256}), 400,
          "INVALID_PARAMETER")
    fails(await api.post("/v1/agent/101/pause", headers=auth(ACME), json={"reason": "a\nb"}), 400,
          "INVALID_PARAMETER")
    fails(await api.post("/v1/agent/101/pause", headers=auth(ACME), content=b"{not json"), 400, "INVALID_PARAMETER")
    fails(await api.post("/v1/agent/101/pause", headers=auth(ACME), json=["lunch"]), 400, "INVALID_PARAMETER")
    fails(await api.post("/v1/agent/101/pause"), 401, "UNAUTHORIZED")
    async with engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM agents"))).scalar_one() == 0
    assert await told(engine) == []


async def test_the_monitor_lists_each_tenant_s_registered_or_busy_agents_in_tel4vn_s_shape(agents, engine):
    store, api, calls = agents
    call = await Call(calls, ext="201", tenant="beta", phone="0899000222").run([AGENT_RINGS])
    now = time.time()
    await store.save("node-a", [
        Change(registered("101", now - 120, state_since=now - 30, idle_since=now - 30)),
        Change(Presence("102", state_since=now - 50)),  # not registered, idle: not listed
        Change(Presence("103", channels=MappingProxyType({"x": "Ring"}), call_state=AgentCallState.RINGING,
                        state_since=now - 3)),  # not registered (dialled from a phone that is not): listed
    ])
    await store.save("node-b", [Change(registered("201", now - 100, channels=MappingProxyType({"y": "Up"}),
                                                  call_state=AgentCallState.ONCALL, state_since=now - 42))])
    assert (await api.post("/v1/agent/101/pause", headers=auth(ACME))).status_code == 200

    async def monitor(token, **params) -> list[dict]:
        r = await api.get("/v1/monitor/agent", headers=auth(token), params=params)
        assert r.status_code == 200 and r.json()["status"] == "success", r.text
        return r.json()["data"]

    acme = await monitor(ACME)
    assert [a["extension"] for a in acme] == ["101", "103"]
    assert acme[0] == {
        "extension": "101", "call_state": "IDLE", "call_id": "", "call_time": 0, "destination": "", "direction": "",
        "user_agent": "Zoiper 5", "network_ip": "192.0.2.7", "server_host": "node-a", "registered": True,
        "paused": True, "since": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 30))}
    assert (acme[1]["call_state"], acme[1]["registered"], acme[1]["server_host"]) == ("RINGING", False, "node-a")
    assert 3 <= acme[1]["call_time"] <= 60
    beta = await monitor(BETA)
    assert [(a["extension"], a["call_state"], a["call_id"], a["destination"], a["direction"], a["server_host"])
            for a in beta] == [("201", "ONCALL", call.call_id, "0899000222", "outbound", "node-b")]
    assert 42 <= beta[0]["call_time"] <= 100
    assert [a["extension"] for a in await monitor(OPERATOR)] == ["101", "103", "201"]
    assert await monitor(ACME, extension="201") == []
    assert [a["extension"] for a in await monitor(OPERATOR, extension="201")] == ["201"]
    fails(await api.get("/v1/monitor/agent", headers=auth(ACME), params={"extension": "1 0"}), 400,
          "INVALID_PARAMETER")


async def test_availability_for_ring_groups_is_per_node(agents, engine):
    store, api, _ = agents
    now = time.time()
    await store.save("node-a", [Change(registered("101", now, idle_since=now - 9)),
                                Change(registered("102", now, channels=MappingProxyType({"z": "Up"}),
                                                  call_state=AgentCallState.ONCALL))])
    await store.save("node-b", [Change(registered("103", now))])
    await api.post("/v1/agent/102/pause", headers=auth(ACME))
    assert await available(engine, "node-a", ["101", "102", "103"]) == {
        "101": AgentAvailability(True, False, AgentCallState.IDLE, now - 9),
        "102": AgentAvailability(True, True, AgentCallState.ONCALL, None),
        "103": AgentAvailability(False, False, AgentCallState.IDLE, None),  # registered on node-b, not here
    }
    assert await available(engine, "node-a", []) == {}
