"""The hooks API (POST/GET /v1/event, DELETE /v1/event/{id}, GET /v1/event/{id}/deliveries,
POST /v1/deliveries/{id}/resend) and the CDR API's tenant scoping, through the service's real routes, on a real
SQLite file, with deliveries sent to a real HTTP receiver. A tenant sees only its own; another's are 404."""

from __future__ import annotations

import pytest

from click2call.config import Settings
from click2call.webhooks import signing

from .factories import AGENT_BUSY, AGENT_RINGS, CONNECTED, Call
from .helpers import HOOK_SECRET, SECRET, Process, api_client, eventually

OPERATOR_TOKEN = "operator-token-0123456789"
ACME_TOKEN, BETA_TOKEN = "acme-token-0123456789ab", "beta-token-0123456789ab"
TENANTS = f"""
[[tenant]]
name = "acme"
tokens = ["{ACME_TOKEN}"]
extensions = ["101", "102"]
hotlines = ["02873000001"]

[[tenant]]
name = "beta"
tokens = ["{BETA_TOKEN}"]
extensions = ["201"]
hotlines = ["02873000001"]
"""


def settings(tmp_path, secrets: str = SECRET) -> Settings:
    path = tmp_path / "tenants.toml"
    path.write_text(TENANTS)
    return Settings.from_env({"C2C_API_TOKENS": OPERATOR_TOKEN, "C2C_HOTLINES": "02873000001=trunk-a",
                              "C2C_TENANTS_FILE": str(path), "C2C_WEBHOOK_SECRET": secrets})


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def service(sqlite_engine, tmp_path):
    async with Process(sqlite_engine) as proc:
        async with api_client(settings(tmp_path), proc.hooks, proc.store) as client:
            yield proc, client


def fails(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["status"] == "fail" and response.json()["error"] == code, response.text


async def test_each_tenant_sees_and_changes_only_its_own_hooks(service, receiver):
    _, api = service
    created = await api.post("/v1/event", headers=auth(ACME_TOKEN), json={
        "callback_url": receiver.url("/acme"), "event": "hangup", "callback_apikey": "Key acme",
        "secret": HOOK_SECRET})
    assert created.status_code == 201, created.text
    acme = created.json()["data"]
    assert (acme["tenant"], acme["event"], acme["has_secret"], acme["has_callback_apikey"]) == (
        "acme", "hangup", True, True)
    assert not {"secret", "callback_apikey"} & set(acme) and not acme["disabled"] and not acme["configured"]
    beta = (await api.post("/v1/event", headers=auth(BETA_TOKEN), json={
        "callback_url": receiver.url("/beta"), "event": "cdr"})).json()["data"]
    assert (beta["tenant"], beta["has_secret"]) == ("beta", False)  # signed with C2C_WEBHOOK_SECRET
    mine = (await api.post("/v1/event", headers=auth(OPERATOR_TOKEN), json={
        "callback_url": receiver.url("/operator"), "event": "ringing"})).json()["data"]
    assert mine["tenant"] is None

    listed = {token: [h["id"] for h in (await api.get("/v1/event", headers=auth(token))).json()["data"]]
              for token in (ACME_TOKEN, BETA_TOKEN, OPERATOR_TOKEN)}
    assert listed == {ACME_TOKEN: [acme["id"]], BETA_TOKEN: [beta["id"]],
                      OPERATOR_TOKEN: [acme["id"], beta["id"], mine["id"]]}
    fails(await api.delete(f"/v1/event/{acme['id']}", headers=auth(BETA_TOKEN)), 404, "HOOK_NOT_FOUND")
    fails(await api.get(f"/v1/event/{acme['id']}/deliveries", headers=auth(BETA_TOKEN)), 404, "HOOK_NOT_FOUND")
    fails(await api.delete(f"/v1/event/{mine['id']}", headers=auth(ACME_TOKEN)), 404, "HOOK_NOT_FOUND")
    fails(await api.delete("/v1/event/no-such-hook", headers=auth(OPERATOR_TOKEN)), 404, "HOOK_NOT_FOUND")
    fails(await api.get("/v1/event", headers=auth("acme-token-wrong")), 401, "UNAUTHORIZED")

    assert (await api.delete(f"/v1/event/{acme['id']}", headers=auth(ACME_TOKEN))).json() == {"status": "success"}
    fails(await api.delete(f"/v1/event/{acme['id']}", headers=auth(ACME_TOKEN)), 404, "HOOK_NOT_FOUND")
    assert (await api.delete(f"/v1/event/{beta['id']}", headers=auth(OPERATOR_TOKEN))).status_code == 200
    assert [h["id"] for h in (await api.get("/v1/event", headers=auth(OPERATOR_TOKEN))).json()["data"]] == [
        mine["id"]]
    # every change and refused change is in the audit trail, by token id and tenant; acme's admin sees acme's only
    trail = (await api.get("/v1/audit", headers=auth(OPERATOR_TOKEN), params={"limit": 50})).json()["data"][::-1]
    assert [(e["action"], e["tenant"], e["target"], e["status"], e["error"]) for e in trail] == [
        ("hook_create", "acme", acme["id"], 201, ""), ("hook_create", "beta", beta["id"], 201, ""),
        ("hook_create", "", mine["id"], 201, ""), ("hook_delete", "beta", acme["id"], 404, "HOOK_NOT_FOUND"),
        ("hook_delete", "acme", mine["id"], 404, "HOOK_NOT_FOUND"), ("hook_delete", "", "no-such-hook", 404,
                                                                      "HOOK_NOT_FOUND"),
        ("hook_delete", "acme", acme["id"], 200, ""), ("hook_delete", "acme", acme["id"], 404, "HOOK_NOT_FOUND"),
        ("hook_delete", "", beta["id"], 200, "")]
    assert trail[0]["detail"] == {"event": "hangup", "callback_url": receiver.url("/acme")}  # never the apikey
    mine_only = (await api.get("/v1/audit", headers=auth(ACME_TOKEN))).json()["data"]
    assert {e["tenant"] for e in mine_only} == {"acme"} and len(mine_only) == 4


@pytest.mark.parametrize("body", [
    {"callback_url": "http://127.0.0.1/x", "event": "dialled"},
    {"callback_url": "http://127.0.0.1/x"},
    {"callback_url": "ftp://127.0.0.1/x", "event": "hangup"},
    {"callback_url": "not a url", "event": "hangup"},
    {"callback_url": "http://127.0.0.1/x y", "event": "hangup"},
    {"callback_url": "http://127.0.0.1/" + "x" * 2100, "event": "hangup"},
    {"callback_url": ["http://127.0.0.1/x"], "event": "hangup"},
    {"event": "hangup"},
    {"callback_url": "http://127.0.0.1/x", "event": "hangup", "secret": "plain-text"},
    {"callback_url": "http://127.0.0.1/x", "event": "hangup", "secret": "whsec_!!!"},
    {"callback_url": "http://127.0.0.1/x", "event": "hangup", "callback_apikey": "a\r\nInjected: yes"},
    {"callback_url": "http://127.0.0.1/x", "event": "hangup", "callback_apikey": 42},
    ["http://127.0.0.1/x", "hangup"],
    "hangup",
])
async def test_bad_hooks_are_refused_with_invalid_parameter(service, body):
    proc, api = service
    fails(await api.post("/v1/event", headers=auth(ACME_TOKEN), json=body), 400, "INVALID_PARAMETER")
    assert (await api.get("/v1/event", headers=auth(OPERATOR_TOKEN))).json()["data"] == []


async def test_a_body_that_is_not_json_and_a_hook_without_any_secret_are_refused(sqlite_engine, tmp_path):
    async with Process(sqlite_engine, secrets=()) as proc, \
            api_client(settings(tmp_path, secrets=""), proc.hooks, proc.store) as api:
        fails(await api.post("/v1/event", headers=auth(ACME_TOKEN), content=b"{not json"), 400, "INVALID_PARAMETER")
        # No C2C_WEBHOOK_SECRET: a hook must bring its own, else nothing could sign its deliveries.
        no_secret = await api.post("/v1/event", headers=auth(ACME_TOKEN),
                                   json={"callback_url": "http://127.0.0.1/x", "event": "hangup"})
        fails(no_secret, 400, "INVALID_PARAMETER")
        assert "secret" in no_secret.json()["message"]
        assert (await api.post("/v1/event", headers=auth(ACME_TOKEN), json={
            "callback_url": "http://127.0.0.1/x", "event": "hangup", "secret": HOOK_SECRET})).status_code == 201


async def test_deliveries_show_each_attempt_and_a_failed_one_is_resent_with_the_same_id_and_body(service, receiver):
    proc, api = service
    receiver.status["/rejects"] = 422  # a 4xx other than 410 and 429 is final: no retry
    hook = (await api.post("/v1/event", headers=auth(ACME_TOKEN), json={
        "callback_url": receiver.url("/rejects"), "event": "hangup"})).json()["data"]
    call = await Call(proc.store, tenant="acme").run(AGENT_BUSY)
    await eventually(proc.idle, what="the delivery given up")

    listed = (await api.get(f"/v1/event/{hook['id']}/deliveries", headers=auth(ACME_TOKEN))).json()["data"]
    [failed] = listed
    assert (failed["event"], failed["call_id"], failed["sequence"], failed["status"], failed["attempts"]) == (
        "hangup", call.call_id, 2, "failed", 1)  # the call's second event (after the agent's ringing)
    assert failed["last_status_code"] == 422 and failed["next_attempt_at"] is None
    assert [a["status_code"] for a in failed["history"]] == [422] and failed["webhook_id"].startswith("msg_")
    assert len(receiver.received("/rejects")) == 1

    fails(await api.post(f"/v1/deliveries/{failed['id']}/resend", headers=auth(BETA_TOKEN)), 404, "DELIVERY_NOT_FOUND")
    fails(await api.post("/v1/deliveries/no-such-delivery/resend", headers=auth(ACME_TOKEN)), 404,
          "DELIVERY_NOT_FOUND")
    receiver.status["/rejects"] = 200  # the CRM is fixed
    assert (await api.post(f"/v1/deliveries/{failed['id']}/resend", headers=auth(ACME_TOKEN))).json() == {
        "status": "success"}
    await eventually(lambda: len(receiver.received("/rejects")) == 2, what="the resent delivery")
    await eventually(proc.idle, what="the resent delivery done")

    first, again = receiver.received("/rejects")
    assert again["headers"]["webhook-id"] == first["headers"]["webhook-id"] == failed["webhook_id"]
    assert again["body"] == first["body"]
    signing.verify(SECRET, again["headers"], again["body"])
    [resent] = (await api.get(f"/v1/event/{hook['id']}/deliveries", headers=auth(OPERATOR_TOKEN))).json()["data"]
    assert (resent["id"], resent["status"], resent["attempts"], resent["last_status_code"]) == (
        failed["id"], "delivered", 1, 200)
    assert [a["status_code"] for a in resent["history"]] == [422, 200]  # the history is kept
    # The operator may resend any tenant's delivery.
    assert (await api.post(f"/v1/deliveries/{failed['id']}/resend", headers=auth(OPERATOR_TOKEN))).status_code == 200
    await eventually(lambda: len(receiver.received("/rejects")) == 3, what="the operator's resend")


async def test_a_tenant_reads_only_its_own_call_records(service):
    proc, api = service
    acme = await Call(proc.store, tenant="acme").run(CONNECTED)
    beta = await Call(proc.store, tenant="beta", ext="201").run([AGENT_RINGS])

    by_acme = (await api.get("/v1/cdr", headers=auth(ACME_TOKEN))).json()
    assert [item["id"] for item in by_acme["data"]] == [acme.call_id]
    assert {item["id"] for item in (await api.get("/v1/cdr", headers=auth(OPERATOR_TOKEN))).json()["data"]} == {
        acme.call_id, beta.call_id}
    item = (await api.get(f"/v1/cdr/{acme.customer_sip}", headers=auth(ACME_TOKEN))).json()
    assert (item["id"], item["status"], item["billsec"], item["tenant"]) == (acme.call_id, "ANSWERED", 60, "acme")
    assert item["legs"]["agent"]["sip_call_id"] == acme.agent_sip
    fails(await api.get(f"/v1/cdr/{acme.call_id}", headers=auth(BETA_TOKEN)), 404, "CALL_NOT_FOUND")
    fails(await api.get(f"/v1/cdr/{acme.agent_sip}", headers=auth(BETA_TOKEN)), 404, "CALL_NOT_FOUND")
    assert (await api.get(f"/v1/cdr/{beta.call_id}", headers=auth(BETA_TOKEN))).json()["status"] == "IN_PROGRESS"
    fails(await api.get("/v1/cdr", headers=auth(ACME_TOKEN), params={"status": "LOST"}), 400, "INVALID_PARAMETER")


async def test_cdr_paging_by_scroll_id_and_by_page(service):
    proc, api = service
    made = [await Call(proc.store, created_at=1_000_000.0 + i).run(AGENT_BUSY) for i in range(5)]
    newest_first = [c.call_id for c in reversed(made)]
    seen, params = [], {"limit": "2"}
    while True:
        page = (await api.get("/v1/cdr", headers=auth(OPERATOR_TOKEN), params=params)).json()
        assert set(page) == {"data", "limit", "scroll_id"}
        seen += [item["id"] for item in page["data"]]
        if not page["scroll_id"]:
            break
        params = {"limit": "2", "scroll_id": page["scroll_id"]}
    assert seen == newest_first
    second = (await api.get("/v1/cdr", headers=auth(OPERATOR_TOKEN), params={"limit": "2", "page": "2"})).json()
    assert ([item["id"] for item in second["data"]], second["total"], second["page"]) == (newest_first[2:4], 5, 2)
