"""Call-record writes of many calls share commits (on a real SQLite file), and a failing write fails only itself."""

import asyncio
from dataclasses import replace

import sqlalchemy as sa

from click2call.db import GroupCommit, Many, calls, open_database
from click2call.records import CallStore
from click2call.stasis_app import call_flow as flow

from .factories import SPEC


def new_calls(n: int) -> list[flow.CallState]:
    return [flow.CallState(replace(SPEC, call_id=f"call-{i:03d}"), created_at=1000.0) for i in range(n)]


async def rows(engine) -> dict[str, str]:
    async with engine.connect() as conn:
        return dict((await conn.execute(sa.select(calls.c.call_id, calls.c.phase))).all())


def test_concurrent_writes_share_commits_and_all_land(tmp_path):
    async def main():
        engine = await open_database(f"sqlite:///{tmp_path}/calls.db")
        write = GroupCommit(engine)
        store = CallStore(engine, write=write)
        states = new_calls(100)
        await asyncio.gather(*(store.create(s) for s in states))
        after_insert = write.commits
        moved = [flow.transition(s, flow.Originated(1000.1))[0] for s in states]
        saved = await asyncio.gather(*(store.save(m, s) for m, s in zip(moved, states)))
        found = await rows(engine)
        await write.close()
        await engine.dispose()
        return after_insert, write.commits - after_insert, saved, found

    insert_commits, save_commits, saved, found = asyncio.run(main())
    assert len(found) == 100 and set(found.values()) == {flow.Phase.AGENT_RINGING.value}
    assert all(saved)
    assert insert_commits < 20 and save_commits < 20, (insert_commits, save_commits)  # 100 writes each


def test_one_failing_write_fails_alone(tmp_path):
    async def main():
        engine = await open_database(f"sqlite:///{tmp_path}/calls.db")
        store = CallStore(engine)
        states = new_calls(10)
        # The same call inserted twice breaks the primary key: that write fails, in the same batch as the others.
        results = await asyncio.gather(*(store.create(s) for s in [*states[:5], states[3], *states[5:]]),
                                       return_exceptions=True)
        found = await rows(engine)
        await engine.dispose()
        return results, found

    results, found = asyncio.run(main())
    assert [type(r).__name__ for r in results] == ["NoneType"] * 5 + ["IntegrityError"] + ["NoneType"] * 5
    assert len(found) == 10


def test_items_of_many_in_one_transaction_are_one_executemany(tmp_path):
    async def main():
        engine = await open_database(f"sqlite:///{tmp_path}/calls.db")
        write = GroupCommit(engine)
        batches = []

        def insert(conn, items) -> None:
            batches.append(len(items))
            conn.execute(calls.insert(), [{"call_id": f"m-{i:03d}", "direction": "outbound", "extension": "101",
                                           "phone": "0899", "hotline": "028", "trunk": "t", "status": "IN_PROGRESS",
                                           "phase": "NEW", "phase_rank": 0, "created_at": 1.0, "updated_at": 1.0}
                                          for i in items])

        await asyncio.gather(*(write(Many(insert, i)) for i in range(100)))
        found = await rows(engine)
        await write.close()
        await engine.dispose()
        return batches, found, write.commits

    batches, found, commits = asyncio.run(main())
    assert len(found) == 100 and sum(batches) == 100
    assert len(batches) == commits < 10, batches  # one executemany per transaction, not one statement per item
