import os
import signal

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


# In the environment of a service that a session- or module-scoped fixture starts (its value: the scope): it may
# outlive a test (a fixture that pytest sets up in the middle of a test, request.getfixturevalue, starts it after
# the test's snapshot), not the run.
SCOPE_VAR = "LAB_SERVICE_SCOPE"


def serve_processes() -> dict[int, tuple[str, str]]:
    """The `click2call serve` processes this test run started (its descendants): pid -> (scope, what it is)."""
    parent, argv = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                parent[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv[int(name)] = f.read().decode(errors="replace").split("\0")
        except (OSError, IndexError, ValueError):
            continue

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parent.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    found = {}
    for pid, args in argv.items():
        if "click2call" in args and "serve" in args[args.index("click2call"):] and ours(pid):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = dict(v.split("=", 1) for v in f.read().decode(errors="replace").split("\0") if "=" in v)
            except OSError:
                env = {}
            found[pid] = (env.get(SCOPE_VAR, "function"),
                          f"pid {pid}: app {env.get('C2C_ARI_APP', '?')}, listening on {env.get('C2C_LISTEN', '?')}")
    return found


def _fail_if_left(before: dict, when: str, scopes=("function", "module", "session")) -> None:
    left = {pid: what for pid, (scope, what) in serve_processes().items() if pid not in before and scope in scopes}
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        pytest.fail(f"click2call serve left running {when} (now killed): " + "; ".join(left.values()), pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def no_service_outlives_the_run():
    """Session and module fixtures stop their services too."""
    yield
    _fail_if_left({}, "after the last test")


@pytest.fixture(autouse=True)
def no_service_outlives_its_test():
    """A service started by a test, or by its function-scoped fixtures, is stopped by the time the test ends (one
    left running would hold an ARI websocket and keep reconnecting through every later test). Services of
    session and module fixtures say so in their environment (SCOPE_VAR)."""
    before = serve_processes()
    yield
    _fail_if_left(before, "after its test", scopes=("function",))
