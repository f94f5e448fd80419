#!/usr/bin/env bash
# Run click2call for real on a fresh Debian machine (as root): installs uv and the locked dependencies,
# provisions and starts the lab Asterisk from asterisk-conf/, simulated phones and carriers (sipp),
# then `click2call serve`, and prints a working curl. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v uv >/dev/null || python3 -m pip install -q "uv==0.13.9"
uv sync --frozen -q
lab/lab.sh provision
exec uv run --frozen python -m lab.demo
