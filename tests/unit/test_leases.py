"""Node leases on a real PostgreSQL: nodes spread over live replicas, a dead replica's nodes are taken once its
lease runs out (and not before), each change of owner moves the epoch, and a stale owner's record writes are
refused by the fence."""

import asyncio
import time
from dataclasses import replace

import pytest
import sqlalchemy as sa

from click2call.cluster.leases import Leases
from click2call.db import GroupCommit, asterisk_nodes, open_database
from click2call.records import CallStore, Fence
from click2call.stasis_app import call_flow as flow

from .test_call_flow import SPEC

NODES = ["a", "b", "c", "d"]


@pytest.fixture
async def engine(postgres):
    engine = await open_database(postgres.new_database())
    yield engine
    await engine.dispose()


class Replica:
    """What a replica's leases tell it: the nodes it runs."""

    def __init__(self, engine, name: str, lease: float = 2.0) -> None:
        self.running: dict[str, int] = {}
        self.leases = Leases(engine, name, name, NODES, lease, self.acquired, self.lost, self.lost)

    async def acquired(self, node: str, epoch: int) -> None:
        self.running[node] = epoch

    async def lost(self, node: str) -> None:  # also quiet(): handed over, it acts no more on the node
        self.running.pop(node, None)


async def owners(engine) -> dict[str, str | None]:
    async with engine.connect() as conn:
        return dict((await conn.execute(sa.select(asterisk_nodes.c.name, asterisk_nodes.c.owner))).all())


async def test_nodes_spread_over_live_replicas_and_come_back_when_one_leaves(engine):
    one, two = Replica(engine, "r1"), Replica(engine, "r2")
    await one.leases.start()
    assert sorted(one.running) == NODES  # alone: every node
    await two.leases.start()  # a second replica: one takes up to its share only from free nodes...
    assert two.running == {}
    await one.leases.tick()  # ...and the first lets go of what is beyond its share
    await two.leases.tick()
    assert len(one.running) == len(two.running) == 2 and not set(one.running) & set(two.running)
    assert await owners(engine) == {**{n: "r1" for n in one.running}, **{n: "r2" for n in two.running}}
    await two.leases.close()  # a clean stop frees its nodes at once
    await one.leases.tick()
    assert sorted(one.running) == NODES


async def test_a_dead_replicas_nodes_are_taken_once_its_lease_runs_out_with_a_new_epoch(engine):
    dead, heir = Replica(engine, "dead", lease=1.5), Replica(engine, "heir", lease=1.5)
    await dead.leases.start()
    epochs = dict(dead.running)
    await heir.leases.start()
    assert heir.running == {}  # the leases still run: nothing to take
    await asyncio.sleep(1.6)  # the dead one renews no more
    await heir.leases.tick()
    assert sorted(heir.running) == NODES
    assert all(heir.running[n] == epochs[n] + 1 for n in NODES)
    assert not dead.leases.owns("a")  # by its own clock, the dead one knew to stop before the heir took over


async def test_a_stale_owner_cannot_write_a_call_of_the_node(engine):
    dead, heir = Replica(engine, "dead", lease=1.0), Replica(engine, "heir", lease=1.0)
    await dead.leases.start()
    store = CallStore(engine, write=GroupCommit(engine))
    state = flow.CallState(replace(SPEC, call_id="c-fence", node="a"), created_at=time.time())
    await store.create(state, claimed_by="dead")
    rang, _ = flow.transition(state, flow.Originated(time.time()))
    assert await store.save(rang, state, Fence("a", "dead", dead.running["a"]))
    await asyncio.sleep(1.1)
    await heir.leases.start()
    answered, _ = flow.transition(rang, flow.Answered("agent", time.time()))
    assert not await store.save(answered, rang, Fence("a", "dead", dead.running["a"]))  # refused: not the owner
    assert await store.save(answered, rang, Fence("a", "heir", heir.running["a"]))


async def test_a_dead_replicas_nodes_are_taken_within_the_lease_not_a_round_later(engine):
    lease = 1.5
    dead, heir = Replica(engine, "dead", lease=lease), Replica(engine, "heir", lease=lease)
    before = time.monotonic()
    await dead.leases.start()  # the dead one's last renewal is written in there: its leases run out a lease later
    renewed = time.monotonic()
    await heir.leases.start()
    running = asyncio.create_task(heir.leases.run())
    try:
        async with asyncio.timeout(3 * lease):
            while len(heir.running) < len(NODES):
                await asyncio.sleep(0.01)
        taken = time.monotonic()
    finally:
        running.cancel()
    # Not before the lease ran out (counted from before the renewal was written), and not a third of a lease after
    # (counted from after it: start() also runs the nodes it took, which a loaded machine makes slow).
    assert taken - before >= lease - 0.1, taken - before
    assert taken - renewed <= lease + 0.3, taken - renewed
