"""One click-to-call per extension and a cap of calls in progress per token, kept by the database (so across every
replica of a cluster), on a real SQLite file and a real PostgreSQL server."""

import asyncio
from dataclasses import replace

import pytest

from click2call.db import GroupCommit, open_database
from click2call.errors import ApiError
from click2call.records import CallStore
from click2call.stasis_app import call_flow as flow

from .test_call_flow import SPEC


def call(n: int, ext: str = "101") -> flow.CallState:
    return flow.CallState(replace(SPEC, call_id=f"call-{n:03d}", ext=ext), created_at=1000.0 + n)


def ended(state: flow.CallState) -> flow.CallState:
    for event in (flow.Start(), flow.OriginateFailed("USER_BUSY", "busy")):
        state, _ = flow.transition(state, event)
    return state


@pytest.fixture
async def stores(database_url):
    """Two stores on one database: two replicas."""
    engine = await open_database(database_url)
    yield [CallStore(engine, write=GroupCommit(engine)) for _ in range(2)]
    await engine.dispose()


async def refusal(coroutine) -> str | None:
    try:
        await coroutine
    except ApiError as exc:
        return exc.code
    return None


async def test_an_extension_has_one_click_to_call_at_a_time_across_replicas(stores):
    one, two = stores
    results = await asyncio.gather(*(store.create(call(n), token="t1") for n, store in enumerate([one, two] * 5)),
                                   return_exceptions=True)
    assert sum(r is None for r in results) == 1
    assert {r.code for r in results if r is not None} == {"USER_BUSY"}
    winner = next(n for n, r in enumerate(results) if r is None)
    assert await refusal(two.create(call(50), token="t2")) == "USER_BUSY"  # whoever asks
    assert await refusal(one.create(call(51), token=None)) is None  # a dialplan handoff: the agent's own call
    assert await one.save(ended(call(winner)), call(winner))
    assert await refusal(two.create(call(52), token="t1")) is None  # free again once the call is final


async def test_a_token_has_at_most_its_cap_of_calls_in_progress_across_replicas(stores):
    one, two = stores
    assert await refusal(one.create(call(1, "101"), token="t1", cap=2)) is None
    assert await refusal(two.create(call(2, "102"), token="t1", cap=2)) is None
    assert await refusal(one.create(call(3, "103"), token="t1", cap=2)) == "TOO_MANY_CALLS"
    assert await refusal(two.create(call(4, "104"), token="t2", cap=2)) is None  # another token has its own
    assert await one.save(ended(call(1, "101")), call(1, "101"))
    assert await refusal(two.create(call(5, "105"), token="t1", cap=2)) is None
    assert await refusal(one.create(call(6, "106"), token="t1", cap=0)) is None  # 0: no cap


async def test_replicas_starting_together_on_a_new_database_all_open_it(postgres):
    """Several replicas start at once on an empty PostgreSQL database: one migrates, the others wait and find it
    done (without the lock they raced to create the same tables)."""
    url = postgres.new_database()
    async with asyncio.timeout(60):  # unlocked, they fail or wait on each other for good
        engines = await asyncio.gather(*(open_database(url) for _ in range(4)))
    for engine in engines:
        await engine.dispose()
