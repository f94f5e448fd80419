"""Fixtures of the unit suite: a real database (a SQLite file; the same tests on a real PostgreSQL where marked)
and a real HTTP receiver on 127.0.0.1. Nothing here needs Asterisk."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from click2call.db import metadata, open_database
from tests.pgkit import PostgresError
from tests.receiver import Receiver


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/calls.db"


@pytest.fixture(scope="session")
def pg_url(request) -> str:
    """One database on the session's PostgreSQL server for the unit tests, emptied before each test (a database
    each costs more than the test). Without PostgreSQL's server binaries the PostgreSQL runs are skipped here
    (scripts/test.sh installs them; with CI=true it is an error)."""
    try:
        return request.getfixturevalue("postgres").new_database()
    except PostgresError as exc:
        if os.environ.get("CI") or "not found" not in str(exc):
            raise
        pytest.skip(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A database of each kind the service supports: a new SQLite file, and the PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/calls.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def engine(db_url):
    """A migrated, empty database (open_database runs the migrations), on SQLite and on PostgreSQL."""
    engine = await open_database(db_url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)}"))
    yield engine
    await engine.dispose()


@pytest.fixture
async def sqlite_engine(sqlite_url):
    """A migrated SQLite file, for the tests whose point is timing rather than the database."""
    engine = await open_database(sqlite_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def http_receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def receiver(http_receiver):
    """A real HTTP receiver (tests/receiver.py) on a free port of 127.0.0.1; it records what it got, in order.
    One server for the session (starting one is most of a short test's time), reset for each test."""
    http_receiver.reset()
    yield http_receiver
    http_receiver.reset()
