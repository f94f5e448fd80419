"""The dispatcher: retries under the same webhook-id, order per call and hook, 410, Retry-After, leases after a
crash, two processes on one database, bounded concurrency, and a clean stop. A real database, a real HTTP receiver on 127.0.0.1, calls
written through the real store and outbox; small backoffs and timeouts so that each test takes about a second."""

from __future__ import annotations

import asyncio
import time

from click2call.db import deliveries
from click2call.webhooks import signing

from tests.receiver import Answer

from .factories import AGENT_ANSWERS, AGENT_RINGS, CONNECTED, CONNECTED_EVENTS, CUSTOMER_RINGS, Call
from .helpers import OPERATOR, SECRET, Process, eventually


def sequences(receiver, path: str, call_id: str) -> list[int]:
    """The sequence of every request for the call, in arrival order (a retry shows as a repeat)."""
    return [r["json"]["sequence"] for r in receiver.received(path, call_id)]


async def test_a_failed_attempt_is_retried_with_the_same_webhook_id_and_body(sqlite_engine, receiver):
    # 500, then no answer within the timeout, then accepted.
    receiver.script["/all"] = [Answer(500), Answer(200, delay=0.6)]
    async with Process(sqlite_engine, timeout=0.3) as proc:
        hook = await proc.hook(receiver.url("/all"), "ringing")
        call = await Call(proc.store).run([AGENT_RINGS])
        await eventually(lambda: len(receiver.received("/all")) == 3, what="three attempts")
        await eventually(proc.idle, what="the delivery done")
        [delivery] = await proc.deliveries(hook["id"])

    attempts = receiver.received("/all", call.call_id)
    assert [r["status"] for r in attempts] == [500, 200, 200]  # the second answer came too late to count
    assert len({r["headers"]["webhook-id"] for r in attempts}) == 1 and len({r["body"] for r in attempts}) == 1
    for r in attempts:
        signing.verify(SECRET, r["headers"], r["body"])  # each attempt signed anew (its own timestamp)
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 3, 200)
    assert [(a["status_code"], a["error"].split(":")[0], a["answer"]) for a in delivery["history"]] == [
        (500, "", "ok"), (None, "Timeout", ""), (200, "", "")]  # a 2xx's answer is not kept
    assert delivery["webhook_id"] == attempts[0]["headers"]["webhook-id"]


async def test_events_behind_a_pending_one_wait_for_it_then_follow_in_order(engine, receiver):
    receiver.script["/all"] = [Answer(500), Answer(503)]  # the call's first event is refused twice
    async with Process(engine, default_url=receiver.url("/all")) as proc:
        call = await Call(proc.store).run([AGENT_RINGS])
        await eventually(lambda: receiver.received("/all"), what="the first attempt")
        await call.run(CONNECTED[1:])  # the rest of the call is written while its first event is pending
        await eventually(lambda: len(receiver.received("/all")) == 8, what="every event")
        await eventually(proc.idle, what="every delivery done")

    got = receiver.received("/all", call.call_id)
    # Nothing overtakes the first event: the others wait, then go once each, in order.
    assert sequences(receiver, "/all", call.call_id) == [1, 1, 1, 2, 3, 4, 5, 6]
    assert [r["status"] for r in got] == [500, 503] + [200] * 6
    assert [(r["json"]["state"], r["json"]["leg"]) for r in got[2:]] == CONNECTED_EVENTS


async def test_a_call_whose_events_wait_does_not_hold_up_another_call(sqlite_engine, receiver):
    receiver.script["/all"] = [Answer(503, headers={"Retry-After": "1"})]
    async with Process(sqlite_engine, default_url=receiver.url("/all")) as proc:
        stuck = await Call(proc.store).run([AGENT_RINGS])
        await eventually(lambda: receiver.received("/all"), what="the refused attempt")
        await stuck.run(CONNECTED[1:])
        other = await Call(proc.store).run(CONNECTED)  # the same hook, another call
        await eventually(lambda: len(receiver.received("/all", other.call_id)) == 6, what="the other call's events")
        assert sequences(receiver, "/all", stuck.call_id) == [1]  # still waiting for its retry
        await eventually(lambda: len(receiver.received("/all", stuck.call_id)) == 7, what="the stuck call's events")

    assert sequences(receiver, "/all", other.call_id) == [1, 2, 3, 4, 5, 6]
    assert sequences(receiver, "/all", stuck.call_id) == [1, 1, 2, 3, 4, 5, 6]


async def test_410_disables_the_hook_and_fails_its_pending_deliveries(engine, receiver):
    receiver.script["/gone"] = [Answer(410, delay=0.3)]
    async with Process(engine) as proc:
        hook = await proc.hook(receiver.url("/gone"), "ringing")
        call = await Call(proc.store).run([AGENT_RINGS])
        await eventually(lambda: receiver.received("/gone"), what="the first attempt")
        await call.run([AGENT_ANSWERS, CUSTOMER_RINGS])  # written while the first is in flight: pending behind it
        listed = await eventually(lambda: _disabled(proc, hook["id"]), what="the hook disabled")
        await eventually(proc.idle, what="nothing pending")
        after = await Call(proc.store).run([AGENT_RINGS])  # a new call's ringing: the disabled hook gets none
        found = await proc.deliveries(hook["id"])
        assert await proc.count(deliveries, deliveries.c.call_id == after.call_id) == 0

    assert listed["disabled_reason"] == "receiver answered 410 Gone"
    assert len(receiver.received("/gone")) == 1  # nothing sent to a dead hook after its 410 (none pending either)
    assert [(d["sequence"], d["status"], d["attempts"], d["last_status_code"], d["last_error"]) for d in found] == [
        (1, "failed", 1, 410, ""), (3, "failed", 0, None, "hook disabled (410 Gone)")]  # 2: the agent's answer


async def _disabled(proc: Process, hook_id: str) -> dict | None:
    """The hook as GET /v1/event lists it, once it is disabled."""
    return next((h for h in await proc.hooks.list(OPERATOR) if h["id"] == hook_id and h["disabled"]), None)


async def test_retry_after_is_honoured(sqlite_engine, receiver):
    # Our own backoff would try again after 25-50 ms; the receiver asks for a second.
    receiver.script["/all"] = [Answer(429, headers={"Retry-After": "1"})]
    async with Process(sqlite_engine, default_url=receiver.url("/all")) as proc:
        await Call(proc.store).run([AGENT_RINGS])
        await eventually(lambda: len(receiver.received("/all")) == 2, what="the second attempt")
        await eventually(proc.idle, what="the delivery done")

    first, second = receiver.received("/all")
    assert (first["status"], second["status"]) == (429, 200)
    assert 0.95 <= second["at"] - first["at"] < 2.0  # (our own backoff would have been 25-50 ms)
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]


async def test_a_4xx_is_final_and_nothing_is_retried(sqlite_engine, receiver):
    receiver.script["/rejects"] = [Answer(400, body="invalid signature:\n\x00 unknown hook ".encode() + b"\xff" * 3
                                          + b"x" * 400)]
    async with Process(sqlite_engine) as proc:
        hook = await proc.hook(receiver.url("/rejects"), "ringing")
        call = await Call(proc.store).run([AGENT_RINGS])
        await eventually(proc.idle, what="the delivery given up")  # failed: never due again
        [delivery] = await proc.deliveries(hook["id"])
    assert sequences(receiver, "/rejects", call.call_id) == [1]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", 1, 400)
    # what the receiver said is kept with the attempt, as one printable line of at most 255 characters
    said = delivery["history"][0]["answer"]
    assert said.startswith("invalid signature: unknown hook \ufffd\ufffd\ufffdxxx") and len(said) == 255


async def test_a_delivery_leased_by_a_process_that_died_is_sent_once_its_lease_runs_out(sqlite_engine, receiver):
    """A new delivery is leased at birth to the process that wrote it, and handed straight to its dispatcher. Here
    that process dies before sending (its dispatcher never sees the hand-off): another process's poller leaves the
    deliveries alone while they are leased, then sends them, in order, once each."""
    lease = 1.0
    started = time.time()
    async with Process(sqlite_engine, default_url=receiver.url("/all"), alive=False, lease=lease) as dead:
        call = await Call(dead.store).run(CONNECTED)
    async with Process(sqlite_engine, default_url=receiver.url("/all")) as successor:
        await asyncio.sleep(started + lease - 0.2 - time.time())
        assert receiver.received("/all") == []  # still leased to the dead process
        await eventually(lambda: len(receiver.received("/all")) == 6, what="the six events")
        await eventually(successor.idle, what="every delivery done")

    got = receiver.received("/all", call.call_id)
    assert all(r["at"] >= started + lease for r in got)
    assert [(r["json"]["state"], r["json"]["leg"]) for r in got] == CONNECTED_EVENTS
    assert [r["json"]["sequence"] for r in got] == [1, 2, 3, 4, 5, 6]
    for r in got:
        signing.verify(SECRET, r["headers"], r["body"])


async def test_two_processes_polling_one_outbox_send_each_event_once(sqlite_engine, receiver):
    """Two processes on one database read the same due deliveries at the same moment (here: those a dead process
    left, once their lease ran out); the claim lets only one of them send each."""
    lease = 0.5
    started = time.time()
    async with Process(sqlite_engine, default_url=receiver.url("/all"), alive=False, lease=lease) as dead:
        calls = [await Call(dead.store).run(CONNECTED) for _ in range(3)]
    async with Process(sqlite_engine, default_url=receiver.url("/all")) as one, \
            Process(sqlite_engine, default_url=receiver.url("/all")) as two:
        await asyncio.sleep(started + lease + 0.05 - time.time())
        one.dispatcher.wake()
        two.dispatcher.wake()  # both look at once: they read the same deliveries
        await eventually(lambda: len(receiver.received("/all")) >= 18, what="every event")
        await eventually(one.idle, what="every delivery done")

    for call in calls:
        assert sequences(receiver, "/all", call.call_id) == [1, 2, 3, 4, 5, 6]
    assert len(receiver.received("/all")) == 18

async def test_no_more_requests_at_once_than_the_concurrency(sqlite_engine, receiver):
    receiver.delay["/all"] = 0.2
    async with Process(sqlite_engine, default_url=receiver.url("/all"), concurrency=2) as proc:
        for _ in range(5):  # five calls ring at once: five queues, two sending slots
            await Call(proc.store).run([AGENT_RINGS])
        await eventually(proc.idle, what="every delivery done")

    spans = [(r["at"], r["at"] + 0.2) for r in receiver.received("/all")]
    assert len(spans) == 5
    assert max(sum(start <= at < end for start, end in spans) for at, _ in spans) == 2


async def test_stopping_lets_a_send_in_flight_finish_and_records_it(sqlite_engine, receiver):
    receiver.delay["/slow"] = 0.4
    async with Process(sqlite_engine) as proc:
        hook = await proc.hook(receiver.url("/slow"), "ringing")
        await Call(proc.store).run([AGENT_RINGS])
        await eventually(lambda: receiver.received("/slow"), what="the request in flight")
    # The process has stopped (as at SIGTERM): the send it had in flight finished and its outcome is written.
    async with Process(sqlite_engine, alive=False) as after:
        [delivery] = await after.deliveries(hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)
