"""Notifications between replicas on a real PostgreSQL: sent with the transaction of the change they tell of (so
never for one rolled back), received by every listening replica, waking whoever waits for that call."""

import asyncio

import pytest

from click2call.cluster import bus
from click2call.db import open_database


@pytest.fixture
async def engine(postgres):
    engine = await open_database(postgres.new_database())
    yield engine
    await engine.dispose()


async def test_a_committed_change_is_told_to_every_replica_and_a_rolled_back_one_never(engine):
    heard: list[list[bus.Message]] = [[], []]
    replicas = [bus.Bus(engine, heard[i].append, lambda: asyncio.sleep(0)) for i in range(2)]
    tasks = [asyncio.create_task(b.run()) for b in replicas]
    try:
        for b in replicas:
            await asyncio.wait_for(b.listening.wait(), 10)
        waiting = replicas[1].expect(bus.Kind.RESULT, "c1")
        other = replicas[1].expect(bus.Kind.RESULT, "c2")

        async with engine.begin() as conn:
            await conn.run_sync(bus.publish, bus.Message(bus.Kind.RESULT, "c1", result="success"))
            assert not waiting.done()  # not before the commit
        assert (await asyncio.wait_for(waiting, 5)).result == "success"

        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.run_sync(bus.publish, bus.Message(bus.Kind.RESULT, "c2", result="success"))
                raise RuntimeError("rolled back")
        async with engine.begin() as conn:
            await conn.run_sync(bus.publish, bus.Message(bus.Kind.START, "c3", node="a"))
        await asyncio.sleep(0.3)
        assert not other.done()
        assert [m.call for m in heard[0]] == [m.call for m in heard[1]] == ["c1", "c3"]
        assert heard[0][1] == bus.Message(bus.Kind.START, "c3", node="a")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_a_malformed_notification_is_not_a_message():
    assert bus.parse("{not json") is None and bus.parse('{"k": "start"}') is None
    assert bus.parse('{"k":"ended","c":"x"}') == bus.Message("ended", "x")
