#!/usr/bin/env bash
# The benchmark (issue 7): the service against the floor Asterisk sets, side by side in one run, on the lab's real
# Asterisk 22 with sipp agents and carrier. Writes bench/out/REPORT.md, bench/out/report.png and results.json
# (about 11 minutes on 2 cores; see the README's "Benchmark" section).
#
# It (re)starts the lab Asterisk (lab/lab.sh start) with a load-test pool of 2,000 extensions (9001..11000) and
# stops it at the end (BENCH_KEEP_LAB=1 keeps it). The lab's environment is honoured (C2C_LAB_DIR, C2C_LAB_RUN,
# LAB_ARI_PORT, LAB_SIP_PORT, LAB_TRUNK_A_PORT, LAB_TRUNK_B_PORT), so it can run on a second lab beside the
# tests' one. The carrier binds LAB_TRUNK_B_PORT; agents, service and receiver use 5290-5291 and 18280-18281.
# Arguments go to `python -m bench.run` (--quick, --repeats N, --rates 10,20,40, --sync N, --profile py-spy ...).
#
# `scripts/bench.sh records [args]`: the record queries at a million calls instead (issue 17; no lab, no Asterisk):
# fills SQLite and a throwaway PostgreSQL with a year of records and times every record read, before (main's code)
# and after; report in bench/out/records/RECORDS.md (bench/RECORDS.md is the committed one). Arguments go to
# `python -m bench.records all` (--calls, --runs, --databases, --before, --work).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v uv >/dev/null || python3 -m pip install -q "uv==0.13.9"
if [ "${1:-}" = records ]; then
    shift
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q postgresql; }
    uv sync --frozen -q
    exec uv run --frozen python -m bench.records all "$@"
fi
uv sync --frozen -q --group bench
export LAB_LOADPOOL_LAST="${LAB_LOADPOOL_LAST:-11000}"
lab/lab.sh start
[ "${BENCH_KEEP_LAB:-0}" = 1 ] || trap 'lab/lab.sh stop' EXIT
# 1,000 sync requests pending at once are 1,000 open sockets on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
uv run --frozen --group bench python -m bench.run "$@"
