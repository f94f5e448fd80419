"""The records store on a real database (SQLite, and PostgreSQL): guarded updates, look-ups by call_id or SIP
Call-ID, search with both kinds of paging, taking back a refused call's record, and the calls to adopt after a
restart. Calls are driven through the real state machine."""

from __future__ import annotations

from dataclasses import replace

import pytest

from click2call import cdr, records
from click2call.db import GroupCommit, calls
from click2call.records import CallStore
from click2call.stasis_app.call_flow import (
    ChannelGone, HangupRequested, Phase, RecordingStarted, StartRecording, transition,
)

from .factories import (
    AGENT_ANSWERS, AGENT_BUSY, AGENT_GONE, AGENT_RINGS, CONNECTED, CUSTOMER_ANSWERS, CUSTOMER_HANGS_UP,
    CUSTOMER_RINGS, Call,
)
from .helpers import UTC


@pytest.fixture
async def store(engine):
    write = GroupCommit(engine)
    yield CallStore(engine, write=write)
    await write.close()


async def test_a_call_is_found_by_its_id_and_by_either_legs_sip_call_id(store):
    call = await Call(store, customer_id="crm-42", tenant="acme").run(CONNECTED)
    record = await store.get(call.call_id)
    assert (record["status"], record["hangup_by"], record["cause"], record["cause_txt"]) == (
        "ANSWERED", "customer", 16, "NORMAL_CLEARING")
    assert (record["duration"], record["billsec"]) == (65, 60)
    assert (record["customer_id"], record["tenant"]) == ("crm-42", "acme")
    assert (record["agent_sip_call_id"], record["customer_sip_call_id"]) == (call.agent_sip, call.customer_sip)
    assert (await store.get(call.agent_sip))["call_id"] == call.call_id
    assert (await store.get(call.customer_sip))["call_id"] == call.call_id
    assert await store.get("no-such-call") is None


async def test_a_final_status_is_never_changed(store):
    call = await Call(store).run(AGENT_BUSY)
    busy = await store.get(call.call_id)
    assert busy["status"] == "BUSY"
    # The same call ending otherwise (a late hang-up by the API), and a replay of its ringing: both refused.
    ringing = Call(store, call_id=call.call_id, created_at=call.created_at)
    before, rang = ringing.play(AGENT_RINGS)
    _, cancelled = ringing.play([*AGENT_RINGS, HangupRequested(), ChannelGone("agent", 16, "", 1.5)])
    assert cancelled.phase is Phase.ENDED and records.row(cancelled)["status"] == "CANCELLED"
    assert await store.save(cancelled, rang) is False
    assert await store.save(rang, before) is False
    assert await store.get(call.call_id) == busy  # not a column changed


async def test_an_earlier_phase_never_overwrites_a_later_one(store):
    call = await Call(store).run([AGENT_RINGS, AGENT_ANSWERS])
    dialling = await store.get(call.call_id)
    assert dialling["phase"] == "dialing"
    stale = Call(store, call_id=call.call_id, created_at=call.created_at)
    before, ringing = stale.play(AGENT_RINGS)  # a write of the agent's ringing that comes late
    assert await store.save(ringing, before) is False
    assert await store.get(call.call_id) == dialling
    # The same phase moves on (the customer's phone rings while dialling), and so does a later one.
    assert await call.step(CUSTOMER_RINGS) is True
    assert (await store.get(call.call_id))["customer_ringing_at"] == call.created_at + 3.0
    assert await call.step(CUSTOMER_ANSWERS) is True
    assert (await store.get(call.call_id))["phase"] == "connected"


async def test_a_change_the_record_does_not_show_is_not_written(store):
    call = await Call(store).run([AGENT_RINGS, AGENT_ANSWERS[:1]])  # the agent answered: the customer is dialled
    before = await store.get(call.call_id)
    _, bridged = call.play([AGENT_ANSWERS[1]])  # the customer joining the bridge: a change no column shows
    assert bridged != call.state and records.row(bridged) == records.row(call.state)
    assert await store.save(bridged, call.state) is True
    assert await store.get(call.call_id) == before  # not even updated_at: nothing was written


async def test_delete_new_takes_back_only_a_call_that_was_never_placed(store):
    refused = await Call(store).create()
    placed = await Call(store).run([AGENT_RINGS])
    ended = await Call(store).run(AGENT_BUSY)
    for call in (refused, placed, ended):
        await store.delete_new(call.call_id)
    assert await store.get(refused.call_id) is None
    assert (await store.get(placed.call_id))["phase"] == "agent_ringing"
    assert (await store.get(ended.call_id))["status"] == "BUSY"


async def test_unfinished_gives_back_the_calls_in_progress_to_adopt(store):
    new = await Call(store, customer_id="crm-1", tenant="acme").create()
    ringing = await Call(store).run([AGENT_RINGS])
    dialling = await Call(store).run([AGENT_RINGS, AGENT_ANSWERS, CUSTOMER_RINGS])
    talking = await Call(store).run([AGENT_RINGS, AGENT_ANSWERS, CUSTOMER_RINGS, CUSTOMER_ANSWERS])
    ending = await Call(store).run([AGENT_RINGS, AGENT_ANSWERS, CUSTOMER_RINGS, CUSTOMER_ANSWERS, CUSTOMER_HANGS_UP])
    await Call(store).run(CONNECTED)
    await Call(store).run(AGENT_BUSY)

    adopted = {state.spec.call_id: state for state in await store.unfinished()}
    assert set(adopted) == {c.call_id for c in (new, ringing, dialling, talking, ending)}
    # What the record shows of each call comes back unchanged...
    for call in (ringing, dialling, talking, ending):
        assert records.row(adopted[call.call_id]) == records.row(call.state), call.call_id
        spec, was = adopted[call.call_id].spec, call.state.spec
        assert (spec.ext, spec.phone, spec.hotline, spec.trunk, spec.dest_cid_number) == (
            was.ext, was.phone, was.hotline, was.trunk, was.dest_cid_number)
    # ... and a call still NEW is taken as ringing: its agent leg may have been originated just before the stop.
    first = adopted[new.call_id]
    assert first.phase is Phase.AGENT_RINGING and first.agent.created and not first.agent.ringing
    assert (first.spec.customer_id, first.spec.tenant) == ("crm-1", "acme")
    # An adopted call goes on to its end, and its record with it.
    talking.state = adopted[talking.call_id]
    await talking.run([CUSTOMER_HANGS_UP, AGENT_GONE])
    assert (await store.get(talking.call_id))["status"] == "ANSWERED"
    assert talking.call_id not in {s.spec.call_id for s in await store.unfinished()}


async def test_a_call_recorded_for_another_replica_to_start_comes_back_unstarted(store):
    """A cluster: a replica that does not run the call's node records it, unclaimed, for the node's runner."""
    placed = Call(store)
    placed.state = replace(placed.state, spec=replace(placed.state.spec, node="a"))
    await store.create(placed.state)
    [waiting] = [s for s in await store.unfinished() if s.spec.call_id == placed.call_id]
    assert waiting.phase is Phase.NEW and not waiting.agent.created  # to be started, not taken as ringing
    claimed = await store.claim(placed.call_id, "a", "replica-2")
    assert claimed is not None and claimed.phase is Phase.NEW
    assert await store.claim(placed.call_id, "a", "replica-3") is None  # started once
    [after] = [s for s in await store.unfinished("a", "replica-4") if s.spec.call_id == placed.call_id]
    assert after.phase is Phase.AGENT_RINGING  # claimed: its originate may have gone out; adopted as ringing


async def test_a_recorded_call_being_recorded_is_adopted_still_recorded(store):
    call = await Call(store, recording_url="http://c2c/v1/recordings/x").run(
        [AGENT_RINGS, AGENT_ANSWERS, CUSTOMER_RINGS, CUSTOMER_ANSWERS, [RecordingStarted()]])
    [adopted] = await store.unfinished()
    assert adopted.recording and adopted.spec.recording_url == "http://c2c/v1/recordings/x"
    assert records.row(adopted) == records.row(call.state)


async def test_a_call_to_be_recorded_adopted_before_the_answer_is_still_recorded(store):
    await Call(store, recording_url="http://c2c/v1/recordings/y").run([AGENT_RINGS, AGENT_ANSWERS, CUSTOMER_RINGS])
    [adopted] = await store.unfinished()
    _, commands = transition(adopted, replace(CUSTOMER_ANSWERS[0], at=adopted.created_at + 5))
    assert StartRecording(adopted.spec) in commands


async def test_search_pages_by_number_and_by_key_newest_first(store):
    made = []
    for i in range(7):  # two calls at the same instant: the call_id breaks the tie
        made.append(await Call(store, call_id=f"call-{i}", created_at=1_000_000.0 + min(i, 5),
                               ext="102" if i % 2 else "101").run(AGENT_BUSY))
    newest_first = ["call-6", "call-5", "call-4", "call-3", "call-2", "call-1", "call-0"]

    rows, total = await store.search([], 3, page=1)
    assert ([r["call_id"] for r in rows], total) == (newest_first[:3], 7)
    rows, total = await store.search([], 3, page=3)
    assert ([r["call_id"] for r in rows], total) == (newest_first[6:], 7)

    seen, after = [], None
    while True:
        rows, total = await store.search([], 3, after=after)
        assert total is None
        seen += [r["call_id"] for r in rows]
        if len(rows) < 3:
            break
        after = (rows[-1]["created_at"], rows[-1]["call_id"])
        if len(seen) == 3:  # a new call arrives while the client pages: it is newer, so it is not in later pages
            await Call(store, call_id="call-new", created_at=2_000_000.0).run(AGENT_BUSY)
    assert seen == newest_first

    query = cdr.parse_query({"extension": "102", "status": "busy", "limit": "2", "page": "1"}, UTC)
    rows, total = await store.search(query.where, query.limit, page=query.page)
    assert ([r["call_id"] for r in rows], total) == (["call-5", "call-3"], 3)
    query = cdr.parse_query({"start_date": "1970-01-12 13:46:43", "end_date": "1970-01-12"}, UTC)  # from 1_000_003
    rows, _ = await store.search(query.where, 50)
    assert [r["call_id"] for r in rows] == ["call-6", "call-5", "call-4", "call-3"]
    assert len(made) == 7 and await _count(store) == 8


async def _count(store: CallStore) -> int:
    rows, total = await store.search([calls.c.status != "IN_PROGRESS"], 1, page=1)
    return total
