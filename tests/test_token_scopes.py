"""Scoped tokens and agent tokens, on the real service (`click2call serve`) over HTTP, on a real SQLite file and a real
PostgreSQL, with an unreachable Asterisk (what is tested here is decided before Asterisk is asked).

- Every route of the operation list, with a token of each scope: its own scope lets it through, every other is refused
  403 SCOPE_REQUIRED naming the scope, nothing changes, and the audit trail shows each refused state change.
- An agent token (bound to extension 101) cannot ring another extension, see another agent's call (live list, CDR,
  recording) or its stream events, act on its call, supervise, or manage hooks or other agents.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from click2call.db import agent_presence, agents, audit, call_requests, calls, hooks, stream_events
from click2call.http.routes import OPERATIONS
from click2call.states import Scope
from click2call.tenants import derived_id, hash_token
from tests.offline import db, offline_service

HOTLINE = "02873000001"
ALL_TOKEN = "acme-every-scope-0123456789"  # the tenants file's plain list: no scopes, everything the tenant may do
AGENT_TOKEN, OTHER_AGENT_TOKEN = "acme-agent-101-0123456789", "acme-agent-102-0123456789"
OPERATOR_TOKEN, OPERATOR_AUDITOR = "operator-token-0123456789", "operator-auditor-0123456789"


def scoped_token(scope: Scope) -> str:
    return f"acme-only-{scope.replace(':', '-')}-0123456789"


TENANTS = f"""
[[tenant]]
name = "acme"
tokens = ["{hash_token(ALL_TOKEN)}"]
extension_pattern = "1[0-9][0-9]"
hotlines = ["{HOTLINE}"]
""" + "".join(f"""
  [[tenant.token]]
  id = "only-{scope.replace(':', '-')}"
  token = "{hash_token(scoped_token(scope))}"
  scopes = ["{scope}"]
""" for scope in Scope) + f"""
  [[tenant.token]]
  id = "agent-101"
  token = "{hash_token(AGENT_TOKEN)}"
  extension = "101"

  [[tenant.token]]
  id = "agent-102"
  token = "{hash_token(OTHER_AGENT_TOKEN)}"
  extension = "102"

[[tenant]]
name = "beta"
tokens = ["beta-token-0123456789abc"]
extensions = ["201"]
hotlines = ["{HOTLINE}"]
"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    """The service (its ARI a port that refuses connections) and its database URL."""
    work = tmp_path_factory.mktemp("scopes")
    url = f"sqlite:///{work}/calls.db" if request.param == "sqlite" else \
        request.getfixturevalue("postgres").new_database()
    with offline_service(work, url, tenants=TENANTS, C2C_HOTLINES=f"{HOTLINE}=trunk-a",
                         C2C_API_TOKENS=f"{OPERATOR_TOKEN};id=ops,{OPERATOR_AUDITOR};id=auditor;scopes=admin",
                         C2C_WEBHOOK_SECRET="whsec_QUJDREVGR0hJSktMTU5PUA==") as svc:
        yield svc, url, work



def counts(conn) -> dict[str, int]:
    return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (calls, hooks, agents, call_requests, audit)}


CALL_ID = "0b6c2f7e-7a64-4c3f-9d0e-000000000001"
EXAMPLES = {  # a request each route would take as valid input (the refused ones never get to read it)
    ("GET", "/v1/click2call"): {"params": {"ext": "101", "phone": "0899098899"}},
    ("GET", "/v1/click2call/async"): {"params": {"ext": "101", "phone": "0899098899"}},
    ("POST", "/v2/click2call"): {"json": {"agent": "101", "mobile": "0899098899"}},
    ("POST", "/v1/call/{call_id}/hold"): {"json": {"legs": "bleg"}},
    ("POST", "/v1/call/{call_id}/unhold"): {"json": {"legs": "bleg"}},
    ("POST", "/v1/call/{call_id}/mute"): {"json": {"legs": "aleg"}},
    ("POST", "/v1/call/{call_id}/unmute"): {"json": {"legs": "aleg"}},
    ("POST", "/v1/call/{call_id}/dtmf"): {"json": {"legs": "bleg", "digits": "12"}},
    ("POST", "/v1/call/{call_id}/listen"): {"json": {"ext": "105"}},
    ("POST", "/v1/call/{call_id}/whisper"): {"json": {"ext": "105"}},
    ("POST", "/v1/call/{call_id}/barge"): {"json": {"ext": "105"}},
    ("POST", "/v1/call/{call_id}/transfer"): {"json": {"ext": "105", "legs": "bleg"}},
    ("POST", "/v1/call/{call_id}/park"): {"json": {"legs": "bleg"}},
    ("POST", "/v1/event"): {"json": {"event": "hangup", "callback_url": "http://127.0.0.1:9/hook"}},
    ("POST", "/v1/agent/{ext}/pause"): {"json": {"reason": "lunch"}},
    ("GET", "/v1/stats"): {"params": {"from": "2026-11-01", "to": "2026-11-30"}},
}


def ask(client: httpx.Client, op, token: str) -> tuple[int, dict]:
    """The operation's example request with this token: (status, JSON body; {} for a stream or a file)."""
    path = op.path.format(call_id=CALL_ID, id="no-such-id", ext="101")
    headers = {"Authorization": f"Bearer {token}"}
    with client.stream(op.method, path, headers=headers, **EXAMPLES.get((op.method, op.path), {})) as r:
        if r.headers.get("content-type", "").startswith("application/json"):
            return r.status_code, json.loads(r.read())
        return r.status_code, {}  # an event stream or a file: the status says it was let through


def test_each_scope_allows_exactly_its_operations(served):
    svc, url, _ = served
    guarded = [op for op in OPERATIONS if op.auth and not op.any_scope]  # any_scope: who am I, the console session
    assert guarded and all(isinstance(op.scope, Scope) for op in guarded), "every route with a token has a scope"
    assert {op.scope for op in guarded} == set(Scope), "every scope opens some route"
    before = db(url, counts)
    first = db(url, lambda conn: conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit.c.id), 0))).scalar_one())
    refused_changes = []
    with httpx.Client(base_url=svc.base, timeout=30) as client:
        for op in guarded:
            for scope in Scope:
                token = scoped_token(scope)
                status, body = ask(client, op, token)
                if scope is op.scope:
                    assert body.get("error") != "SCOPE_REQUIRED", (op.method, op.path, scope, body)
                    continue
                assert (status, body.get("error")) == (403, "SCOPE_REQUIRED"), (op.method, op.path, scope, body)
                assert str(op.scope) in body["message"], body
                if op.audit is not None:
                    refused_changes.append((f"only-{scope.replace(':', '-')}", str(op.audit)))
        for scope in Scope:  # who am I (the console's first question): any valid token, whatever its scopes
            me = client.get("/v1/me", headers={"Authorization": f"Bearer {scoped_token(scope)}"}).json()
            assert (me["tenant"], me["scopes"], me["operator"]) == ("acme", [str(scope)], False), me
    # Of the allowed ones, only state changes were let through; below, the refused ones changed nothing.
    allowed_changes = sum(1 for op in guarded if op.audit is not None)

    def trail(conn):
        return [tuple(r) for r in conn.execute(sa.select(audit.c.token_id, audit.c.action, audit.c.status,
                                                         audit.c.error, audit.c.tenant).where(audit.c.id > first))]
    entries = db(url, trail)
    refused = [(token_id, action) for token_id, action, status, error, tenant in entries if error == "SCOPE_REQUIRED"]
    assert sorted(refused) == sorted(refused_changes)
    assert all(status == 403 and tenant == "acme"
               for _, _, status, error, tenant in entries if error == "SCOPE_REQUIRED")
    assert len(entries) == len(refused_changes) + allowed_changes  # the allowed state changes are recorded too
    after = db(url, counts)
    # What the allowed requests could change here: the hook its hooks:write token created, the pause of 101.
    assert after == {**before, "hooks": before["hooks"] + 1, "agents": before["agents"] + 1,
                     "audit": before["audit"] + len(entries)}


def test_the_audit_trail_is_read_by_admin_tokens_each_its_own_tenant(served):
    svc, url, _ = served
    with httpx.Client(base_url=svc.base, timeout=30) as client:
        def get(token, **params):
            return client.get("/v1/audit", params=params, headers={"Authorization": f"Bearer {token}"})
        # two refused pauses of beta's extension: one by acme's agent token (not its extension), one by beta
        client.post("/v1/agent/201/pause", headers={"Authorization": f"Bearer {AGENT_TOKEN}"})
        ok = client.post("/v1/agent/201/resume", headers={"Authorization": "Bearer beta-token-0123456789abc"})
        assert ok.status_code == 200, ok.text
        mine = get(scoped_token(Scope.ADMIN), action="pause", token_id="agent-101").json()
        assert mine["data"] and all(e["tenant"] == "acme" for e in mine["data"]), mine
        assert mine["data"][0]["extension"] == "201" and mine["data"][0]["error"] == "EXTENSION_NOT_ALLOWED"
        assert mine["data"][0]["client"] == "127.0.0.1" and mine["data"][0]["status"] == 403
        tenants = {e["tenant"] for e in get(scoped_token(Scope.ADMIN), limit=500).json()["data"]}
        assert tenants == {"acme"}
        beta = get(OPERATOR_AUDITOR, tenant="beta").json()["data"]
        assert [(e["token_id"], e["action"], e["extension"], e["status"]) for e in beta] == [
            (derived_id(hash_token("beta-token-0123456789abc")), "resume", "201", 200)]
        refused = get(scoped_token(Scope.ADMIN), tenant="beta")
        assert (refused.status_code, refused.json()["error"]) == (403, "FORBIDDEN")
        assert get(AGENT_TOKEN).json()["error"] == "SCOPE_REQUIRED"
        # paging: by page with a total, and by scroll_id, newest first, the same entries
        paged = [get(OPERATOR_AUDITOR, limit=5, page=n).json() for n in (1, 2)]
        assert paged[0]["total"] >= 10 and len(paged[0]["data"]) == 5
        first = get(OPERATOR_AUDITOR, limit=5).json()
        second = get(OPERATOR_AUDITOR, limit=5, scroll_id=first["scroll_id"]).json()
        assert [e["id"] for e in first["data"] + second["data"]] == [e["id"] for p in paged for e in p["data"]]
        ids = [e["id"] for p in paged for e in p["data"]]
        assert ids == sorted(ids, reverse=True)
        assert get(OPERATOR_AUDITOR, action="nope").json()["error"] == "INVALID_PARAMETER"
        # never editable through the API
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert client.request(method, "/v1/audit", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
                                  ).status_code == 405


def call_row(ext: str, phone: str, status: str = "IN_PROGRESS", recorded: bool = False) -> dict:
    now = time.time()
    call_id = str(uuid.uuid4())
    return {"call_id": call_id, "direction": "outbound", "extension": ext, "phone": phone, "hotline": HOTLINE,
            "trunk": "trunk-a", "status": status, "phase": "connected" if status == "IN_PROGRESS" else "ended",
            "phase_rank": 3, "created_at": now, "updated_at": now, "tenant": "acme", "node": "asterisk",
            "token": None, "ended_at": None if status == "IN_PROGRESS" else now,
            "recording_url": f"http://x/v1/recordings/{call_id}" if recorded else None}


def test_an_agent_token_sees_and_acts_on_its_own_extension_only(served):
    svc, url, work = served
    mine, theirs = call_row("101", "0899000101"), call_row("102", "0899000102")
    done_mine, done_theirs = (call_row("101", "0899100101", "ANSWERED", True),
                              call_row("102", "0899100102", "ANSWERED", True))
    (work / "rec").mkdir(exist_ok=True)
    for row in (done_mine, done_theirs):
        (work / "rec" / f"{row['call_id']}.wav").write_bytes(b"RIFF....WAVE")

    def setup(conn):
        conn.execute(calls.insert(), [mine, theirs, done_mine, done_theirs])
        conn.execute(stream_events.insert(), [
            {"tenant": "acme", "extension": row["extension"], "event": "ringing", "call_id": row["call_id"],
             "sequence": 1, "body": json.dumps({"call_id": row["call_id"]}), "created_at": time.time()}
            for row in (mine, theirs)])
        conn.execute(agent_presence.insert(), [
            {"node": "asterisk", "extension": ext, "registered": True, "call_state": "IDLE", "state_since": time.time(),
             "updated_at": time.time()} for ext in ("101", "102")])
        return conn.execute(sa.select(sa.func.max(stream_events.c.position))).scalar_one()
    last = db(url, setup)

    with httpx.Client(base_url=svc.base, timeout=30, headers={"Authorization": f"Bearer {AGENT_TOKEN}"}) as agent:
        def refused(r, status: int, code: str):
            assert (r.status_code, r.json()["error"]) == (status, code), r.text

        # ring: only from its own extension (another: refused before Asterisk is asked; its own: on to Asterisk)
        for path in ("/v1/click2call", "/v1/click2call/async"):
            refused(agent.get(path, params={"ext": "102", "phone": "0899098899"}), 403, "AGENT_EXTENSION_ONLY")
            refused(agent.get(path, params={"ext": "201", "phone": "0899098899"}), 403, "EXTENSION_NOT_ALLOWED")
            refused(agent.get(path, params={"ext": "101", "phone": "0899098899"}), 503, "SERVICE_UNAVAILABLE")
        refused(agent.post("/v2/click2call", json={"agent": "102", "mobile": "0899"}), 403, "AGENT_EXTENSION_ONLY")

        # see: its own calls, records and recordings; another agent's are not there
        live = agent.get("/v1/call").json()["data"]
        assert [c["call_id"] for c in live] == [mine["call_id"]]
        records = {c["id"] for c in agent.get("/v1/cdr", params={"limit": 500}).json()["data"]}
        assert records == {mine["call_id"], done_mine["call_id"]}
        assert agent.get(f"/v1/cdr/{done_mine['call_id']}").status_code == 200
        refused(agent.get(f"/v1/cdr/{done_theirs['call_id']}"), 404, "CALL_NOT_FOUND")
        assert agent.get(f"/v1/recordings/{done_mine['call_id']}").content == b"RIFF....WAVE"
        refused(agent.get(f"/v1/recordings/{done_theirs['call_id']}"), 404, "RECORDING_NOT_FOUND")
        around = {"from": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400)),
                  "to": time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400)), "group_by": "extension"}
        figures = agent.get("/v1/stats", params=around).json()
        assert [(g["key"], g["calls"], g["in_progress"], g["answered"]) for g in figures["data"]] == [("101", 2, 1, 1)]
        refused(agent.get("/v1/stats", params={**around, "extension": "102"}), 403, "AGENT_EXTENSION_ONLY")
        monitored = [a["extension"] for a in agent.get("/v1/monitor/agent").json()["data"]]
        assert monitored == ["101"]

        # its stream: its own extension's events alone, whatever it asks for
        with agent.stream("GET", "/v1/stream", params={"last_event_id": last - 2}) as stream:
            assert stream.status_code == 200
            data = []
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    data.append(json.loads(line[5:])["call_id"])
                if line.startswith("retry:"):  # the backlog is sent
                    break
        assert data == [mine["call_id"]]
        refused(agent.get("/v1/stream", params={"extension": "102"}), 403, "AGENT_EXTENSION_ONLY")

        # act: on its own calls only; never supervise, manage hooks or pause another agent
        refused(agent.post(f"/v1/call/{theirs['call_id']}/hold", json={"legs": "bleg"}), 404, "CALL_NOT_FOUND")
        refused(agent.delete(f"/v1/call/{theirs['call_id']}"), 404, "CALL_NOT_FOUND")
        # its own call is found (one replica, the call not run by it: it is taken as ending)
        refused(agent.post(f"/v1/call/{mine['call_id']}/hold", json={"legs": "bleg"}), 409, "CALL_ENDED")
        for mode in ("listen", "whisper", "barge"):
            refused(agent.post(f"/v1/call/{mine['call_id']}/{mode}", json={"ext": "101"}), 403, "SCOPE_REQUIRED")
        refused(agent.post("/v1/event", json={"event": "cdr", "callback_url": "http://127.0.0.1:9/x"}), 403,
                "SCOPE_REQUIRED")
        refused(agent.get("/v1/event"), 403, "SCOPE_REQUIRED")
        refused(agent.post("/v1/agent/102/pause"), 403, "AGENT_EXTENSION_ONLY")
        assert agent.post("/v1/agent/101/pause", json={"reason": "lunch"}).json()["paused"] is True
        assert agent.post("/v1/agent/101/resume").json()["paused"] is False
        refused(agent.get("/v1/cluster"), 403, "SCOPE_REQUIRED")
        refused(agent.get("/v1/audit"), 403, "SCOPE_REQUIRED")

    def paused(conn):
        return {r.extension: r.paused for r in conn.execute(sa.select(agents.c.extension, agents.c.paused))}
    assert "102" not in db(url, paused)  # the refused pause changed nothing
    with httpx.Client(base_url=svc.base, timeout=30) as client:
        trail = client.get("/v1/audit", params={"token_id": "agent-101", "limit": 500},
                           headers={"Authorization": f"Bearer {OPERATOR_AUDITOR}"}).json()["data"]
    seen = {(e["action"], e["extension"] or e["call_id"], e["status"], e["error"]) for e in trail}
    assert {("click_to_call", "102", 403, "AGENT_EXTENSION_ONLY"), ("hold", theirs["call_id"], 404, "CALL_NOT_FOUND"),
            ("listen", mine["call_id"], 403, "SCOPE_REQUIRED"), ("pause", "102", 403, "AGENT_EXTENSION_ONLY"),
            ("pause", "101", 200, ""), ("hook_create", "", 403, "SCOPE_REQUIRED")} <= seen, seen
