"""A throwaway PostgreSQL server for the tests: Debian's postgresql binaries, a cluster in a temp dir, on
127.0.0.1 with a free port, run as the `postgres` user (initdb refuses root). No mock: the real server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid


class PostgresError(RuntimeError):
    pass


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise PostgresError("PostgreSQL server binaries not found: apt-get install postgresql")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="c2c-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()

    def _as_postgres(self, *cmd: str) -> None:
        proc = subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)
        if proc.returncode != 0:
            raise PostgresError(f"{' '.join(cmd)} failed: {proc.stdout}{proc.stderr}")

    def start(self, settings: dict[str, str] | None = None) -> "Postgres":
        """settings: more server settings (-c name=value), e.g. the benchmark's shared_preload_libraries."""
        extra = "".join(f" -c {k}={v}" for k, v in (settings or {}).items())
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self._as_postgres(
            _bin("pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60",
            "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on{extra}", "start",
        )
        return self

    def new_database(self) -> str:
        """A new empty database; returns its URL as C2C_DATABASE_URL takes it."""
        name = "c2c_" + uuid.uuid4().hex[:12]
        self._as_postgres(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._as_postgres(_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
