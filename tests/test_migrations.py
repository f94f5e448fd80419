"""The migrations build exactly the schema the code declares, on SQLite and on a real PostgreSQL."""

import asyncio

import sqlalchemy as sa

from click2call.db import calls, open_database


def test_migrated_schema_matches_the_declared_table(database_url):
    async def columns_after_two_starts():
        url = database_url
        for _ in range(2):  # a second start finds the schema current and changes nothing
            engine = await open_database(url)
            async with engine.connect() as conn:
                found = await conn.run_sync(lambda c: {
                    col["name"]: type(col["type"]).__name__ for col in sa.inspect(c).get_columns("calls")})
                indexes = await conn.run_sync(lambda c: {i["name"] for i in sa.inspect(c).get_indexes("calls")})
            await engine.dispose()
        return found, indexes

    found, indexes = asyncio.run(columns_after_two_starts())
    assert set(found) == {c.name for c in calls.columns}
    assert indexes == {i.name for i in calls.indexes}
