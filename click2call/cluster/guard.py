"""One replica, or a cluster, on a database: never two replicas that each believe they run every node.

A replica without C2C_CLUSTER holds its database alone: on SQLite an exclusive lock on a file beside the
database (SQLite cannot be shared between replicas anyway), on PostgreSQL an exclusive advisory lock; clustered
replicas hold that advisory lock shared. Both are let go by the operating system or the database server when the
process dies, even by SIGKILL, so a restart is never locked out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

LOCK_KEY = 0x6332_6373  # "c2cs": the advisory lock every replica of one database takes


class DatabaseInUse(RuntimeError):
    """Another replica runs on this database in a way this one cannot join."""


class Guard:
    def __init__(self) -> None:
        self._file: int | None = None
        self._conn: AsyncConnection | None = None

    async def hold(self, engine: AsyncEngine, clustered: bool) -> None:
        if engine.dialect.name == "sqlite":
            self._hold_file(engine.url.database)
            return
        self._conn = await engine.connect()
        take = sa.func.pg_try_advisory_lock_shared if clustered else sa.func.pg_try_advisory_lock
        if not (await self._conn.execute(sa.select(take(LOCK_KEY)))).scalar_one():
            await self.release()
            raise DatabaseInUse(
                "another replica runs on this database without C2C_CLUSTER=true; every replica of a cluster needs "
                "C2C_CLUSTER=true" if clustered else
                "another replica runs on this database; several replicas need C2C_CLUSTER=true on each of them")
        await self._conn.commit()  # the lock is the session's: keep the connection, end its transaction

    def _hold_file(self, database: str | None) -> None:
        if not database or database == ":memory:":
            return
        path = Path(database).with_name(Path(database).name + ".replica-lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatabaseInUse(f"another replica already runs on the SQLite database {database}: SQLite serves one "
                                "replica; a cluster needs PostgreSQL (C2C_DATABASE_URL=postgresql://..., "
                                "C2C_CLUSTER=true)") from None
        self._file = fd

    async def release(self) -> None:
        if self._file is not None:
            os.close(self._file)  # closing the descriptor lets the lock go
            self._file = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
