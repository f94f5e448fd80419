"""The real service without an Asterisk: its ARI URL a port that refuses every connection. For what needs only the
database and HTTP (scopes, exports, the behaviour while Asterisk is unreachable)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from click2call.db import async_url

from tests.conftest import SCOPE_VAR
from tests.lab.conftest import Service, free_port, service_env


@contextlib.contextmanager
def refusing_url() -> Iterator[str]:
    """An http:// URL on loopback where nothing listens (bound, never listening: every connection is refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextlib.contextmanager
def offline_service(work: Path, database_url: str, *, tenants: str | None = None, ready: bool = False,
                    **env: str) -> Iterator[Service]:
    """A started service on `database_url` (its log and files in `work`; `tenants`: a tenants file's text), stopped
    after the block. A module's fixture may hold it (LAB_SERVICE_SCOPE=module)."""
    if tenants is not None:
        (work / "tenants.toml").write_text(tenants)
        env.setdefault("C2C_TENANTS_FILE", str(work / "tenants.toml"))
    with refusing_url() as ari:
        svc = Service(service_env({}, **{
            "C2C_ARI_URL": ari, "C2C_ARI_PASSWORD": "x", "C2C_DATABASE_URL": database_url,
            "C2C_LISTEN": f"127.0.0.1:{free_port()}", "C2C_RECORDINGS_DIR": str(work / "rec"),
            "C2C_RATE_LIMIT": "0", SCOPE_VAR: "module", **env}), str(work / "svc.log"))
        try:
            yield svc.start(ready)
        finally:
            svc.stop()


def db(url: str, work: Callable[[sa.Connection], object]):
    """`work(conn)` in one transaction on a service's database (SQLite or PostgreSQL), synchronously, from any test:
    on a thread of its own, as Playwright's sync API holds the test thread's event loop."""
    async def run():
        engine = create_async_engine(async_url(url))
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, run()).result()
