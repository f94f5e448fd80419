import pytest

from tests.pgkit import Postgres


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the whole run (Debian's binaries; see tests/pgkit.py)."""
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A new empty database of each kind the service supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/calls.db"
    return request.getfixturevalue("postgres").new_database()
