"""A smoke run of the benchmark (bench/, scripts/bench.sh) with tiny numbers on the session's lab: the floor and the
service both connect every call, webhooks arrive, the sync requests resolve, the report is written, and no channel
is left in Asterisk. The benchmark itself is not a test: this only keeps it working.

Ports of its own (sipp agents 5690-5691, service 18690, webhook receiver 18691) and extensions 9101-9125 of the
load-test pool; its customers go through trunk-b, to the carrier already there (the session's `carriers`) or to
one of its own with the same behaviour (answers after 0.3 s, hangs up 1.5 s later).
"""

from __future__ import annotations

import importlib.util

import httpx
import pytest

from bench import run as bench

pytestmark = pytest.mark.lab


def test_the_benchmark_runs_end_to_end(lab, tmp_path):
    cfg = bench.Config(
        out=tmp_path, rates=[2, 4], calls_per_step=3, repeats=1, warmup_calls=1, sync_pending=5, sync_ring_ms=1000,
        hold_ms=1500, ext_first=9101, throughput_exts=20, agent_port=5690, slow_agent_port=5691,
        service_port=18690, receiver_port=18691, reuse_carrier=True,
        service_app="click2call-bench-smoke", floor_app="bench-floor-smoke",
    )
    results = bench.run(cfg)

    steps = results["steps"]
    assert sorted((s["kind"], s["rate"]) for s in steps) == [("floor", 2), ("floor", 4), ("service", 2), ("service", 4)]
    for step in steps:
        assert step["connected"] == step["offered"] == 3, step
        assert step["errors"] == {} and step["setup"]["p50"] > 0.5  # two ring delays of 0.3 s
        assert step["asterisk_cpu"] >= 0 and step["app_cpu_ms_per_call"] is not None
    assert all(s["statuses"] == {"ANSWERED": 3} for s in steps if s["kind"] == "service")

    hook = results["webhook"]
    assert hook["connected"] == 3 and hook["webhooks"]["by_event"] == {
        "ringing": 6, "answered": 6, "hangup": 3, "cdr": 3}
    assert hook["webhooks"]["latency"]["n"] == 12

    sync = results["sync"]
    assert sync["succeeded"] == 5 and sync["statuses"] == {"ANSWERED": 5} and sync["rss_peak_mb"] > 0

    report = (tmp_path / "REPORT.md").read_text()
    assert "## Throughput" in report and "| 4 | service | 100.0 % |" in report
    assert (tmp_path / "report.png").exists() == (importlib.util.find_spec("matplotlib") is not None)

    assert results["channels_left"] == 0
    with httpx.Client(base_url=lab["C2C_ARI_URL"] + "/ari", auth=(lab["C2C_ARI_USER"], lab["C2C_ARI_PASSWORD"])) as ari:
        assert ari.get("/channels").json() == []
