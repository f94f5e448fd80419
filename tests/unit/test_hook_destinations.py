"""Hooks made through the API reach only global addresses, or networks the operator allows (everyone's, and a tenant's
own): refused at creation (400 HOOK_URL_REFUSED, nothing stored), and checked again on the address each connection
uses when a delivery is sent (a name re-pointed after creation fails its delivery at once, with the reason, no
retry). Through the service's real routes, a real SQLite file and real HTTP receivers on 127.0.0.0/8.

Only loopback targets are given to the service here; names are resolved by the test's own resolver (never DNS).
Every other kind of address is tested on the policy alone (test_destinations.py)."""

from __future__ import annotations

import socket
from ipaddress import ip_network

import pytest
from aiohttp.abc import AbstractResolver

from click2call.config import Settings
from click2call.db import hooks
from click2call.schema.tenants_file import HookEntry
from click2call.tenants import Tenant
from click2call.webhooks import signing
from click2call.webhooks.destinations import Policy, Reach
from click2call.webhooks.egress import Egress

from tests.receiver import Answer, Receiver

from .factories import AGENT_RINGS, Call
from .helpers import ACME, SECRET, SECRET_KEY, Process, api_client, eventually

OPERATOR_TOKEN = "operator-token-0123456789"
ACME_TOKEN, BETA_TOKEN = "acme-token-0123456789ab", "beta-token-0123456789ab"
TENANTS = f"""
[[tenant]]
name = "acme"
tokens = ["{ACME_TOKEN}"]
extensions = ["101"]
hotlines = ["02873000001"]
allowed_networks = ["127.0.0.0/8"]

[[tenant]]
name = "beta"
tokens = ["{BETA_TOKEN}"]
extensions = ["201"]
hotlines = ["02873000001"]
"""


class Names(AbstractResolver):
    """The test's resolver: names to the addresses it is told, changeable while the service runs."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[dict]:
        self.asked.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [{"hostname": host, "host": a, "port": port, "proto": 0,
                 "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                 "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV} for a in self.names[host]]

    async def close(self) -> None:
        pass


def settings(tmp_path, **env) -> Settings:
    path = tmp_path / "tenants.toml"
    path.write_text(TENANTS)
    return Settings.from_env({"C2C_API_TOKENS": OPERATOR_TOKEN, "C2C_HOTLINES": "02873000001=trunk-a",
                              "C2C_TENANTS_FILE": str(path), "C2C_WEBHOOK_SECRET": SECRET,
                              "C2C_SECRET_KEY": SECRET_KEY, **env})


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def refused(response, *words: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["status"], body["error"]) == ("fail", "HOOK_URL_REFUSED"), body
    assert all(w in body["message"] for w in words), body["message"]


LOOPBACK_NAMES = {"localhost": ["127.0.0.1", "::1"], "crm.test": ["127.0.0.1"], "v6.test": ["::1"],
                  "mixed.test": ["127.0.0.1", "127.0.0.5"]}


@pytest.fixture
async def nothing_allowed(sqlite_engine, tmp_path):
    """A service whose operator allows no network: C2C_WEBHOOK_ALLOWED_NETWORKS unset, and no tenant's."""
    s = settings(tmp_path)
    names = Names(dict(LOOPBACK_NAMES))
    async with Process(sqlite_engine, reach=Reach(), resolver=names) as proc, \
            api_client(s, proc.hooks, proc.store) as api:
        yield proc, api, names


@pytest.mark.parametrize("url, words", [
    ("http://127.0.0.1/hook", ["callback_url: 127.0.0.1 is a loopback address; hooks may not reach it unless the "
                               "operator allows its network"]),
    ("http://127.0.0.1:8080/hook", ["127.0.0.1 is a loopback address"]),
    ("http://[::1]/hook", ["[::1] is a loopback address"]),
    ("http://localhost/hook", ["localhost resolves to", "a loopback address"]),
    ("http://crm.test:9000/hook", ["crm.test resolves to 127.0.0.1, a loopback address"]),
    ("https://v6.test/hook", ["v6.test resolves to ::1, a loopback address"]),
    ("http://mixed.test/hook", ["mixed.test resolves to 127.0.0.1, a loopback address"]),
    ("http://2130706433/hook", ["2130706433 is 127.0.0.1, a loopback address"]),
    ("http://0x7f000001/hook", ["0x7f000001 is 127.0.0.1, a loopback address"]),
    ("http://0177.0.0.1/hook", ["0177.0.0.1 is 127.0.0.1, a loopback address"]),
    ("http://127.1/hook", ["127.1 is 127.0.0.1, a loopback address"]),
    ("http://[::ffff:127.0.0.1]/hook", ["[::ffff:127.0.0.1] is ::ffff:7f00:1 (IPv4 127.0.0.1), a loopback address"]),
    ("http://[::ffff:7f00:1]/hook", ["IPv4 127.0.0.1", "a loopback address"]),
    ("http://[64:ff9b::7f00:1]/hook", ["IPv4 127.0.0.1", "a loopback address"]),
    ("http://\uff11\uff12\uff17.0.0.1/hook", ["127.0.0.1 is a loopback address"]),  # full-width digits: yarl's 127
    ("http://\u2460\u2461\u2466.0.0.1/hook", ["127.0.0.1 is a loopback address"]),  # circled digits, the same
    ("http://no-such-name.test/hook", ["no-such-name.test does not resolve"]),
])
@pytest.mark.parametrize("token", [ACME_TOKEN, BETA_TOKEN, OPERATOR_TOKEN])
async def test_a_hook_to_loopback_in_any_spelling_is_refused_at_creation(nothing_allowed, url, words, token):
    proc, api, _ = nothing_allowed
    refused(await api.post("/v1/event", headers=auth(token), json={"callback_url": url, "event": "hangup"}), *words)
    assert (await api.get("/v1/event", headers=auth(OPERATOR_TOKEN))).json()["data"] == []
    assert await proc.count(hooks) == 0


async def test_a_url_that_aiohttp_reads_otherwise_is_refused(nothing_allowed):
    """urllib takes the host of this one for 127.0.0.1, aiohttp refuses the URL: not a URL it can send to."""
    proc, api, names = nothing_allowed
    r = await api.post("/v1/event", headers=auth(ACME_TOKEN), json={
        "callback_url": "http://127.0.0.2\\@127.0.0.1/hook", "event": "hangup"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_PARAMETER", r.text
    assert "not a URL this service can send to" in r.json()["message"] and await proc.count(hooks) == 0


async def test_a_bad_body_is_still_invalid_parameter_before_its_url_is_looked_at(nothing_allowed):
    _, api, names = nothing_allowed
    r = await api.post("/v1/event", headers=auth(ACME_TOKEN), json={"callback_url": "http://crm.test/x", "event": "x"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_PARAMETER"
    assert names.asked == []  # refused before any lookup


async def test_a_tenants_allowed_network_works_end_to_end_and_only_for_that_tenant(sqlite_engine, tmp_path, receiver):
    """acme's allowed_networks (127.0.0.0/8, from the tenants file) lets its hook reach a receiver on 127.0.0.1, by
    address and by a name; beta's and the operator's tokens are refused the same URL."""
    s = settings(tmp_path)
    names = Names({"crm.acme.test": ["127.0.0.1"]})
    async with Process(sqlite_engine, reach=s.reach(), resolver=names) as proc, \
            api_client(s, proc.hooks, proc.store) as api:
        for token in (BETA_TOKEN, OPERATOR_TOKEN):
            refused(await api.post("/v1/event", headers=auth(token), json={
                "callback_url": receiver.url("/acme"), "event": "ringing"}), "127.0.0.1 is a loopback address")
        by_address = await api.post("/v1/event", headers=auth(ACME_TOKEN), json={
            "callback_url": receiver.url("/acme"), "event": "ringing"})
        assert by_address.status_code == 201, by_address.text
        by_name = await api.post("/v1/event", headers=auth(ACME_TOKEN), json={
            "callback_url": f"http://crm.acme.test:{receiver.port}/named", "event": "ringing"})
        assert by_name.status_code == 201, by_name.text
        call = await Call(proc.store, tenant="acme").run([AGENT_RINGS])
        await eventually(lambda: receiver.received("/acme", call.call_id) and receiver.received("/named", call.call_id),
                         what="both deliveries")
        await eventually(proc.idle, what="the deliveries done")
    for path in ("/acme", "/named"):
        [got] = receiver.received(path, call.call_id)
        signing.verify(SECRET, got["headers"], got["body"])
        assert got["headers"]["host"].startswith("crm.acme.test" if path == "/named" else "127.0.0.1")
    assert "crm.acme.test" in names.asked


async def test_the_operators_allowed_networks_apply_to_every_token(sqlite_engine, tmp_path, receiver):
    s = settings(tmp_path, C2C_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8")
    async with Process(sqlite_engine, reach=s.reach()) as proc, api_client(s, proc.hooks, proc.store) as api:
        for token in (ACME_TOKEN, BETA_TOKEN, OPERATOR_TOKEN):
            r = await api.post("/v1/event", headers=auth(token), json={
                "callback_url": receiver.url("/all"), "event": "ringing"})
            assert r.status_code == 201, r.text
        refused(await api.post("/v1/event", headers=auth(BETA_TOKEN), json={
            "callback_url": "http://[::1]/x", "event": "ringing"}), "[::1] is a loopback address")  # not in 127/8


async def test_a_name_repointed_after_creation_fails_at_send_time_with_the_reason_and_no_retry(sqlite_engine):
    """crm.test resolves to 127.0.0.2 (allowed: 127.0.0.2/32) when the hook is made and when the first call rings;
    then it is re-pointed to 127.0.0.1, which is not allowed: the next delivery is not sent (a receiver listening on
    127.0.0.1 at the same port gets nothing) and fails at once, for good, saying why."""
    allowed = Receiver(host="127.0.0.2").start()
    refused_side = Receiver(port=allowed.port, host="127.0.0.1").start()
    try:
        allowed.headers["/hook"] = {"connection": "close"}  # no connection kept: the next send connects anew
        names = Names({"crm.test": ["127.0.0.2"]})
        reach = Reach(tenants={"acme": (ip_network("127.0.0.2/32"),)})
        async with Process(sqlite_engine, reach=reach, resolver=names) as proc:
            hook = await proc.hook(f"http://crm.test:{allowed.port}/hook", "ringing", tenant=ACME)
            first = await Call(proc.store, tenant="acme").run([AGENT_RINGS])
            await eventually(lambda: allowed.received("/hook", first.call_id), what="the first delivery")
            await eventually(proc.idle, what="the first delivery done")

            names.names["crm.test"] = ["127.0.0.1"]
            second = await Call(proc.store, tenant="acme").run([AGENT_RINGS])
            await eventually(proc.idle, what="the second delivery given up")
            delivered, failed = sorted(await proc.deliveries(hook["id"], ACME), key=lambda d: d["status"])
    finally:
        allowed.stop()
        refused_side.stop()
    assert (delivered["call_id"], delivered["status"]) == (first.call_id, "delivered")
    assert (failed["call_id"], failed["status"], failed["attempts"], failed["next_attempt_at"]) == (
        second.call_id, "failed", 1, None)  # final: not retried
    reason = "Refused: crm.test resolves to 127.0.0.1, a loopback address"
    assert failed["last_error"] == reason and [a["error"] for a in failed["history"]] == [reason]
    assert failed["last_status_code"] is None
    assert refused_side.requests == [] and len(allowed.requests) == 1
    assert names.asked.count("crm.test") == 3  # at creation, and at each of the two connections


async def test_a_name_that_stops_resolving_is_retried_like_any_network_failure(sqlite_engine, receiver):
    names = Names({"crm.test": ["127.0.0.1"]})
    async with Process(sqlite_engine, resolver=names) as proc:  # 127.0.0.0/8 allowed
        hook = await proc.hook(f"http://crm.test:{receiver.port}/hook", "ringing")
        del names.names["crm.test"]
        call = await Call(proc.store).run([AGENT_RINGS])
        [pending] = await eventually(lambda: _after_attempts(proc, hook["id"], 2), what="two failed lookups")
        assert pending["status"] == "pending" and pending["last_error"].startswith("ClientConnectorDNSError")
        names.names["crm.test"] = ["127.0.0.1"]  # back
        await eventually(lambda: receiver.received("/hook", call.call_id), what="the delivery")
        await eventually(proc.idle, what="the delivery done")


async def _after_attempts(proc: Process, hook_id: str, n: int) -> list[dict] | None:
    found = await proc.deliveries(hook_id)
    return found if found and found[0]["attempts"] >= n else None


async def test_an_address_no_longer_allowed_fails_at_send_time(sqlite_engine, receiver):
    """A hook to 127.0.0.1 made while 127.0.0.0/8 was allowed; the operator withdraws it (a restart with another
    C2C_WEBHOOK_ALLOWED_NETWORKS): its next delivery is refused before any connection, for good."""
    async with Process(sqlite_engine) as before:  # 127.0.0.0/8 allowed
        hook = await before.hook(receiver.url("/lan"), "ringing")
    async with Process(sqlite_engine, reach=Reach()) as proc:
        await Call(proc.store).run([AGENT_RINGS])
        await eventually(proc.idle, what="the delivery given up")
        [failed] = await proc.deliveries(hook["id"])
    assert (failed["status"], failed["attempts"], failed["last_error"]) == (
        "failed", 1, "Refused: 127.0.0.1 is a loopback address")
    assert receiver.received("/lan") == []


async def test_hooks_the_operator_configured_are_trusted(sqlite_engine, receiver):
    """The tenants file's hooks (and C2C_WEBHOOK_URL's) reach what they name, whatever the allowed networks."""
    async with Process(sqlite_engine, reach=Reach(), default_url=receiver.url("/default")) as proc:
        await proc.hooks.sync_configured((_tenant_with_hook(receiver.url("/configured")),))
        call = await Call(proc.store, tenant="acme").run([AGENT_RINGS])
        await eventually(lambda: receiver.received("/configured") and receiver.received("/default"),
                         what="both deliveries")
    assert receiver.received("/configured", call.call_id) and receiver.received("/default", call.call_id)


def _tenant_with_hook(url: str) -> Tenant:
    return Tenant("acme", (), hooks=(HookEntry(event="ringing", callback_url=url),))


async def test_redirects_are_not_followed(sqlite_engine, receiver):
    """A receiver answering 302 to somewhere else: that place is never asked, and the delivery fails (a 3xx is final)."""
    receiver.script["/moved"] = [Answer(302, headers={"location": receiver.url("/elsewhere")})]
    async with Process(sqlite_engine) as proc:
        hook = await proc.hook(receiver.url("/moved"), "ringing")
        await Call(proc.store).run([AGENT_RINGS])
        await eventually(proc.idle, what="the delivery given up")
        [delivery] = await proc.deliveries(hook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", 1, 302)
    assert receiver.received("/elsewhere") == [] and len(receiver.received("/moved")) == 1



def test_at_send_time_the_host_judged_is_the_one_aiohttp_connects_to():
    """A hook stored before (or around) the creation check: the pre-send check reads its URL as aiohttp does."""
    assert Egress.refusal("http://\uff11\uff12\uff17.0.0.1/x", Policy()) == "127.0.0.1 is a loopback address"
    assert Egress.refusal("http://[::ffff:127.0.0.1]/x", Policy()) is not None
    assert Egress.refusal("http://127.0.0.1/x", None) is None  # a trusted hook: not checked
