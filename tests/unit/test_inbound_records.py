"""An inbound call's record on a real database (SQLite and PostgreSQL): written as the real inbound flow goes, read
back by the CDR API's serialiser with every agent rung, rebuilt to be adopted; and what a webhook receiver gets of it
(ringing per agent, answered, hangup, missed, cdr) through the real outbox."""

from __future__ import annotations

import time

from click2call import cdr
from click2call.db import GroupCommit
from click2call.records import CallStore
from click2call.ring_group import RingGroup
from click2call.states import RingStrategy
from click2call.stasis_app import inbound_flow as f

from .helpers import UTC, Process, eventually

GROUP = RingGroup(name="sales", extensions=("101", "102", "103"), strategy=RingStrategy.RINGALL, timeout=60,
                  sticky_days=3, tenant="acme")


def inbound(call_id: str, at: float) -> f.InboundState:
    spec = f.InboundSpec(call_id=call_id, channel="1795752289.12", caller="0899098899", caller_name="Chị Lan",
                         hotline="02873000001", trunk="trunk-a", group=GROUP, tenant="acme", node="n1",
                         sip_call_id="carrier-1")
    return f.InboundState(spec, created_at=at)


async def play(store: CallStore, state: f.InboundState, events: list) -> f.InboundState:
    """Each event's state written as the service writes it (with the state before it)."""
    for event in events:
        before = state
        state, _ = f.transition(state, event)
        if state != before:
            assert await store.save(state, before)
    return state


def answered_by_the_second(t: float) -> list:
    return [f.Start(t), f.Surveyed((f.Available("101"), f.Available("102"), f.Available("103")), at=t + 0.5),
            f.AgentRinging(0, t + 1, "s-101"), f.AgentRinging(1, t + 1, "s-102"), f.AgentRinging(2, t + 1, "s-103"),
            f.AgentAnswered(1, t + 6, "s-102"), f.Connected(t + 6.1), f.AgentGone(0, 16, "Normal Clearing", t + 6.2),
            f.AgentGone(2, 16, "Normal Clearing", t + 6.2), f.CustomerGone(16, "Normal Clearing", t + 36),
            f.AgentGone(1, 16, "Normal Clearing", t + 36.1)]


async def test_an_answered_inbound_call_is_recorded_with_every_agent_rung(engine):
    write = GroupCommit(engine)
    store = CallStore(engine, write=write)
    t = time.time() - 100
    state = inbound("in-1", t)
    await store.create(state, claimed_by="r1")
    state = await play(store, state, answered_by_the_second(t))
    record = await store.get("in-1")
    await write.close()
    assert (record["direction"], record["status"], record["extension"], record["phone"], record["hotline"]) == (
        "inbound", "ANSWERED", "102", "0899098899", "02873000001")
    assert (record["hangup_by"], record["duration"], record["billsec"], record["ring_group"]) == (
        "customer", 36, 30, "sales")
    item = cdr.serialise(record, UTC)
    assert (item["from_number"], item["to_number"], item["direction"], item["ring_group"]) == (
        "0899098899", "102", "inbound", "sales")
    assert item["legs"]["agent"]["sip_call_id"] == "s-102"
    assert item["legs"]["customer"]["sip_call_id"] == "carrier-1"
    assert [(a["extension"], a["sip_call_id"], a["cause"], bool(a["time_answered"])) for a in item["legs"]["agents"]] \
        == [("101", "s-101", "NORMAL_CLEARING", False), ("102", "s-102", "NORMAL_CLEARING", True),
            ("103", "s-103", "NORMAL_CLEARING", False)]
    # the CDR filters work on it unchanged: by the extension that answered, by the caller's number
    where = cdr.parse_query({"extension": "102", "phone": "0899098899"}, UTC).where
    assert [r["call_id"] for r in (await store.search(where, 10))[0]] == ["in-1"]


async def test_an_inbound_call_in_progress_is_rebuilt_to_be_adopted(engine):
    write = GroupCommit(engine)
    store = CallStore(engine, write=write)
    t = time.time()
    state = inbound("in-2", t)
    await store.create(state, claimed_by="r1")
    state = await play(store, state, answered_by_the_second(t)[:5])
    adopted = await store.unfinished("n1", "r2")
    await write.close()
    assert adopted == [state]  # everything the flow needs: the group, the legs, the step


async def test_webhooks_of_a_missed_inbound_call(engine, receiver):
    async with Process(engine, default_url=receiver.url("/all")) as proc:
        t = time.time() - 70
        state = inbound("in-3", t)
        await proc.store.create(state, claimed_by="r1")
        await play(proc.store, state, [
            f.Start(t), f.Surveyed((f.Available("101"), f.Available("102")), at=t + 0.5),
            f.AgentRinging(0, t + 1, "s-101"), f.AgentRinging(1, t + 1, "s-102"), f.TimerFired(f.TOTAL),
            f.AgentGone(0, 16, "", t + 60.1), f.AgentGone(1, 16, "", t + 60.1), f.CustomerGone(19, "", t + 60.2)])
        await eventually(lambda: len(receiver.received("/all", "in-3")) >= 5, what="five events")
        await eventually(proc.idle, what="every delivery done")
        got = [r["json"] for r in receiver.received("/all", "in-3")]
    assert [(e["state"], e["leg"], e["to_number"]) for e in got] == [
        ("ringing", "agent", "101"), ("ringing", "agent", "102"), ("hangup", "", ""), ("missed", "", ""),
        ("cdr", "", "")]
    missed = got[3]
    assert (missed["rung"], missed["waited"], missed["status"], missed["from_number"], missed["ring_group"]) == (
        ["101", "102"], 60, "NO_ANSWER", "0899098899", "sales")
    assert got[4]["cdr"]["status"] == "NO_ANSWER" and got[4]["cdr"]["to_number"] == ""
