"""The outbox: a call's record changes write its webhook events and one delivery per subscribed hook, in the same
transaction; what receivers then get. A real database, a real HTTP receiver on 127.0.0.1, the real state machine."""

from __future__ import annotations

import pytest

from click2call.db import deliveries, webhook_events
from click2call.webhooks import signing

from .factories import AGENT_ANSWERS, AGENT_BUSY, AGENT_RINGS, CONNECTED, CONNECTED_EVENTS, CUSTOMER_RINGS, Call
from .helpers import ACME, BETA, HOOK_SECRET, OPERATOR, SECRET, Process, eventually


def distinct(receiver, path: str, call_id: str) -> list[dict]:
    """Each event once (by webhook-id), in the order first received."""
    seen: dict[str, dict] = {}
    for r in receiver.received(path, call_id):
        seen.setdefault(r["headers"]["webhook-id"], r)
    return list(seen.values())


async def test_every_event_of_a_call_arrives_once_in_order_and_signed(engine, receiver):
    async with Process(engine, default_url=receiver.url("/all")) as proc:
        call = await Call(proc.store, customer_id="crm-42").run(CONNECTED)
        await eventually(lambda: len(receiver.received("/all")) >= 6, what="six events")
        await eventually(proc.idle, what="every delivery done")
        got = receiver.received("/all", call.call_id)

    assert [(r["json"]["state"], r["json"]["leg"]) for r in got] == CONNECTED_EVENTS  # once each, in order
    assert [r["json"]["sequence"] for r in got] == [1, 2, 3, 4, 5, 6]
    assert len({r["headers"]["webhook-id"] for r in got}) == 6
    for r in got:
        signing.verify(SECRET, r["headers"], r["body"])
        assert r["headers"]["webhook-id"].startswith("msg_")
        assert r["headers"]["content-type"] == "application/json" and "authorization" not in r["headers"]
        assert r["json"]["call_id"] == call.call_id and r["json"]["customer_id"] == "crm-42"
    ringing, answered = got[0]["json"], got[3]["json"]
    assert (ringing["sip_call_id"], ringing["timestamp"]) == (call.agent_sip, round(call.created_at + 0.2, 3))
    assert answered["sip_call_id"] == call.customer_sip
    hangup, cdr = got[4]["json"], got[5]["json"]
    assert (hangup["status"], hangup["duration"], hangup["billsec"], hangup["cause"]) == (
        "ANSWERED", 65, 60, "NORMAL_CLEARING")
    assert cdr["cdr"]["id"] == call.call_id and cdr["cdr"]["status"] == "ANSWERED" and cdr["cdr"]["billsec"] == 60
    assert cdr["cdr"]["legs"]["agent"]["sip_call_id"] == call.agent_sip and cdr["recording_url"] == ""


async def test_a_hook_gets_only_its_event_signed_with_its_own_secret_and_apikey(engine, receiver):
    async with Process(engine) as proc:  # no static hook: only the subscriptions
        hangup = await proc.hook(receiver.url("/hangup"), "hangup", secret=HOOK_SECRET, callback_apikey="Key crm-1")
        await proc.hook(receiver.url("/ringing"), "ringing")
        call = await Call(proc.store).run(CONNECTED)
        await eventually(lambda: receiver.received("/hangup") and len(receiver.received("/ringing")) >= 2)
        await eventually(proc.idle, what="every delivery done")

    only = receiver.received("/hangup")
    assert [r["json"]["state"] for r in only] == ["hangup"]
    assert only[0]["headers"]["authorization"] == "Key crm-1"
    signing.verify(HOOK_SECRET, only[0]["headers"], only[0]["body"])
    with pytest.raises(signing.InvalidSignature):
        signing.verify(SECRET, only[0]["headers"], only[0]["body"])  # a hook's own secret replaces the global one
    ringing = receiver.received("/ringing")
    assert [(r["json"]["state"], r["json"]["leg"]) for r in ringing] == [("ringing", "agent"), ("ringing", "customer")]
    signing.verify(SECRET, ringing[0]["headers"], ringing[0]["body"])
    # Only the events some hook receives are stored for the webhooks; the call's sequence counts every event (as the
    # live stream does): the agent's ringing 1, its answer 2, the customer's ringing 3, the answer 4, the hangup 5.
    assert sorted(r["json"]["sequence"] for r in ringing + only) == [1, 3, 5]
    assert await proc.count(webhook_events, webhook_events.c.call_id == call.call_id) == 3
    assert [d["event"] for d in await proc.deliveries(hangup["id"])] == ["hangup"]


async def test_a_tenants_hooks_get_only_its_calls_and_the_operators_get_every_call(engine, receiver):
    async with Process(engine) as proc:
        await proc.hook(receiver.url("/acme"), "ringing", ACME)
        await proc.hook(receiver.url("/beta"), "ringing", BETA)
        await proc.hook(receiver.url("/operator"), "ringing")
        acme = await Call(proc.store, tenant="acme").run([AGENT_RINGS])
        beta = await Call(proc.store, tenant="beta").run([AGENT_RINGS])
        mine = await Call(proc.store).run([AGENT_RINGS])  # the operator's own call (no tenant)
        await eventually(lambda: len(receiver.received("/operator")) == 3)
        await eventually(proc.idle, what="every delivery done")

    assert [r["json"]["call_id"] for r in receiver.received("/acme")] == [acme.call_id]
    assert [r["json"]["call_id"] for r in receiver.received("/beta")] == [beta.call_id]
    assert {r["json"]["call_id"] for r in receiver.received("/operator")} == {acme.call_id, beta.call_id, mine.call_id}


async def test_no_event_without_a_hook_and_none_from_a_write_the_guard_refuses(engine, receiver):
    async with Process(engine) as proc:
        quiet = await Call(proc.store).run(AGENT_BUSY)  # nobody subscribes: nothing is stored to be sent
        assert await proc.count(webhook_events) == 0 and await proc.count(deliveries) == 0

        await proc.hook(receiver.url("/all"), "ringing")
        late = Call(proc.store)
        await late.run(AGENT_BUSY)
        await eventually(lambda: receiver.received("/all", late.call_id))
        stored = await proc.count(webhook_events, webhook_events.c.call_id == late.call_id)
        # The same ringing replayed after the call ended (e.g. a late event): the record refuses it, and with it its
        # webhook event, written in the same transaction.
        before, ringing = Call(proc.store, call_id=late.call_id, created_at=late.created_at).play(AGENT_RINGS)
        assert await proc.store.save(ringing, before) is False
        assert await proc.count(webhook_events, webhook_events.c.call_id == late.call_id) == stored == 1
        assert await proc.count(webhook_events, webhook_events.c.call_id == quiet.call_id) == 0
        await eventually(proc.idle, what="every delivery done")
    assert len(receiver.received("/all", late.call_id)) == 1


async def test_a_deleted_hook_gets_nothing_more(engine, receiver):
    async with Process(engine) as proc:
        hook = await proc.hook(receiver.url("/ringing"), "ringing")
        call = await Call(proc.store).run([AGENT_RINGS])
        await eventually(lambda: receiver.received("/ringing"))
        await proc.hooks.delete(hook["id"], OPERATOR)
        await call.run([AGENT_ANSWERS, CUSTOMER_RINGS])  # the customer's ringing: within the hooks' cache time
        await eventually(proc.idle, what="every delivery done")
        assert await proc.count(deliveries, deliveries.c.hook_id == hook["id"]) == 1
    assert [r["json"]["leg"] for r in receiver.received("/ringing")] == ["agent"]
