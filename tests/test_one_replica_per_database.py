"""A replica without C2C_CLUSTER holds its database alone: a second one on the same SQLite file, or on the same
PostgreSQL database, refuses to start and says why; a cluster needs PostgreSQL (no Asterisk needed here)."""

import subprocess
import sys

import pytest

from tests.lab.conftest import Service, free_port, service_env
from tests.offline import refusing_url


@pytest.fixture
def unreachable_ari():
    with refusing_url() as url:
        yield url


def replica(url: str, ari: str, tmp_path, name: str, **extra: str) -> Service:
    env = service_env({}, C2C_ARI_URL=ari, C2C_ARI_PASSWORD="x", C2C_DATABASE_URL=url,
                      C2C_LISTEN=f"127.0.0.1:{free_port()}", **extra)
    return Service(env, str(tmp_path / f"{name}.log"))


def refused(svc: Service) -> str:
    with pytest.raises(RuntimeError) as exc:
        svc.start(ready=False)
    return str(exc.value)


def test_a_second_replica_on_one_database_refuses_to_start(database_url, unreachable_ari, tmp_path):
    first = replica(database_url, unreachable_ari, tmp_path, "first")
    second = replica(database_url, unreachable_ari, tmp_path, "second")
    try:
        first.start(ready=False)
        why = refused(second)
        assert ("SQLite serves one replica; a cluster needs PostgreSQL" in why if database_url.startswith("sqlite")
                else "several replicas need C2C_CLUSTER=true on each of them" in why), why
        first.stop()
        second.start(ready=False)  # the first gone, the database is free again
    finally:
        first.stop()
        second.stop()


def test_a_cluster_on_sqlite_is_refused_at_once(unreachable_ari, tmp_path):
    env = service_env({}, C2C_ARI_URL=unreachable_ari, C2C_DATABASE_URL=f"sqlite:///{tmp_path}/c.db",
                      C2C_CLUSTER="true", C2C_LISTEN=f"127.0.0.1:{free_port()}")
    done = subprocess.run([sys.executable, "-m", "click2call", "serve"], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and "C2C_CLUSTER needs PostgreSQL" in done.stderr, done.stderr
