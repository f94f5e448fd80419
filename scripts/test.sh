#!/usr/bin/env bash
# Run the whole test suite on a fresh Debian machine (as root): installs uv and the locked
# Python dependencies, provisions the lab Asterisk (Debian sid chroot) and sipp, then runs pytest.
# The lab tests start and stop Asterisk and the simulated phones themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v uv >/dev/null || python3 -m pip install -q "uv==0.13.9"
uv sync --frozen -q
lab/lab.sh provision
exec uv run --frozen pytest -ra "$@"
