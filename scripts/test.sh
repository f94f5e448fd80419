#!/usr/bin/env bash
# Run the whole test suite on a fresh Debian machine (as root): installs uv and the locked
# Python dependencies, PostgreSQL, HAProxy, the lab Asterisk (Debian sid chroot) and sipp, then runs pytest.
# The lab tests start and stop Asterisk and the simulated phones themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v uv >/dev/null || python3 -m pip install -q "uv==0.13.9"
# The records tests run on SQLite and on a real PostgreSQL server (started by the tests themselves); the cluster
# tests put HAProxy in front of the service's replicas.
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/sbin/haproxy ] || missing+=(haproxy)
# The web console's tests drive Debian's Chromium through Playwright (never Playwright's own browser download).
command -v chromium >/dev/null || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
uv sync --frozen -q
lab/lab.sh provision
if [ "$#" -gt 0 ]; then
    exec uv run --frozen pytest -ra "$@"
fi
# Two groups, one after the other: everything, then the browser tests (tests/browser, about a minute), which start a
# lab session of their own (a whole-tree run leaves them out: tests/browser/conftest.py).
status=0
uv run --frozen pytest -ra || status=$?
uv run --frozen pytest -ra tests/browser || status=$?
exit "$status"
