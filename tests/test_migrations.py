"""The migrations build exactly the schema the code declares, on SQLite and on a real PostgreSQL."""

import asyncio

import sqlalchemy as sa

from click2call.db import metadata, open_database


def test_migrated_schema_matches_the_declared_table(database_url):
    async def columns_after_two_starts():
        url = database_url
        for _ in range(2):  # a second start finds the schema current and changes nothing
            engine = await open_database(url)
            async with engine.connect() as conn:
                found = await conn.run_sync(lambda c: {
                    name: ({col["name"] for col in sa.inspect(c).get_columns(name)},
                           {i["name"] for i in sa.inspect(c).get_indexes(name) if not i.get("duplicates_constraint")})
                    for name in sa.inspect(c).get_table_names() if name != "alembic_version"})
            await engine.dispose()
        return found

    found = asyncio.run(columns_after_two_starts())
    assert found == {
        name: ({c.name for c in table.columns}, {i.name for i in table.indexes})
        for name, table in metadata.tables.items()
    }
