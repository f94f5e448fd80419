"""The report: results.json -> REPORT.md (tables) and report.png (plots; skipped when matplotlib is missing).

    python -m bench.report bench/out        # rewrite the report from bench/out/results.json

Every figure is the median over the repeats of a whole step (one step = one offered rate for one side).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import median

# The knee: the highest offered rate at which (nearly) all calls connect, the connect rate keeps up with the
# offered rate, and setup latency has not doubled from the lowest rate's.
CONNECT_MIN = 0.99
KEEP_UP = 0.95
SETUP_GROWTH = 2.0


def by_rate(steps: list[dict], kind: str) -> dict[float, dict]:
    """Per offered rate, the medians over the repeats of the figures of one side's steps."""
    out: dict[float, dict] = {}
    for rate in sorted({s["rate"] for s in steps if s["kind"] == kind}):
        reps = [s for s in steps if s["kind"] == kind and s["rate"] == rate]

        def m(get):
            return median([get(s) for s in reps])

        out[rate] = {
            "repeats": len(reps),
            "offered": m(lambda s: s["offered"]),
            "connected_frac": m(lambda s: s["connected"] / s["offered"] if s["offered"] else None),
            "connected_cps": m(lambda s: s["connected_cps"]),
            "setup_p50": m(lambda s: s["setup"]["p50"]), "setup_p95": m(lambda s: s["setup"]["p95"]),
            "setup_p99": m(lambda s: s["setup"]["p99"]),
            "lat_p50": m(lambda s: s["originate_latency"]["p50"]), "lat_p95": m(lambda s: s["originate_latency"]["p95"]),
            "lat_p99": m(lambda s: s["originate_latency"]["p99"]),
            "app_cpu": m(lambda s: s["app_cpu_ms_per_call"]),
            "asterisk_cpu": m(lambda s: s["asterisk_cpu_ms_per_call"]),
            "errors": sum(sum(s["errors"].values()) for s in reps),
            "left": max(s["channels_left"] for s in reps),
        }
    return out


def knee(rows: dict[float, dict], rates: list[float] | None = None) -> float | None:
    """The highest offered rate up to which every step kept up (see the thresholds above)."""
    best = None
    base = None
    for rate in sorted(rows):
        r = rows[rate]
        if base is None:
            base = r["setup_p50"]
        ok = (r["connected_frac"] or 0) >= CONNECT_MIN and r["setup_p50"] is not None and base is not None \
            and r["setup_p50"] <= SETUP_GROWTH * base \
            and (r["connected_cps"] is None or r["connected_cps"] >= KEEP_UP * rate or r["offered"] < 20)
        if not ok:
            break
        best = rate
    return best


def _ms(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{1000 * v:.{digits}f}"


def _f(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def verdicts(results: dict) -> list[tuple[str, str, str, bool | None]]:
    """(target, measured, threshold, met) for each of the issue's targets."""
    steps = results["steps"]
    floor, service = by_rate(steps, "floor"), by_rate(steps, "service")
    rates = sorted(set(floor) & set(service))
    out: list[tuple[str, str, str, bool | None]] = []
    if rates:
        low = rates[0]
        ratio = _ratio(service[low]["lat_p50"], floor[low]["lat_p50"])
        out.append((f"async latency p50, service / floor (at {low:g} calls/s)", _f(ratio, 2), "≤ 1.3",
                    None if ratio is None else ratio <= 1.3))
    kf, ks = knee(floor), knee(service)
    out.append(("knee (calls/s), service vs floor", f"{_f(ks, 0)} vs {_f(kf, 0)}", "service ≥ floor",
                None if kf is None or ks is None else ks >= kf))
    at = ks or (rates[0] if rates else None)
    if at in service:
        s, a = service[at]["app_cpu"], service[at]["asterisk_cpu"]
        out.append((f"CPU per call at the service's knee ({_f(at, 0)} calls/s): service vs Asterisk",
                    f"{_f(s)} vs {_f(a)} ms", "service ≤ Asterisk", None if s is None or a is None else s <= a))
    sync = results.get("sync")
    if sync:
        ok = sync["succeeded"] == sync["requests"] and sync["statuses"].get("ANSWERED", 0) == sync["requests"]
        out.append((f"{sync['requests']} sync requests at once: all resolve correctly",
                    f"{sync['succeeded']} succeeded, {sync['statuses'].get('ANSWERED', 0)} ANSWERED", "all", ok))
        peak = max(sync["rss_peak_mb"], results.get("service_rss_hwm_mb") or 0)
        out.append(("peak RSS of the service", f"{peak:.0f} MB", "< 150 MB", peak < 150))
    for key, where in (("webhook_floor", "the floor's knee"), ("webhook", "the service's knee")):
        hook = results.get(key)
        if hook:
            p99 = hook["webhooks"]["latency"]["p99"]
            out.append((f"webhook latency p99, ARI event to receipt, at {where} ({hook['rate']:g} calls/s)",
                        f"{_ms(p99, 0)} ms", "< 200 ms", None if p99 is None else p99 < 0.2))
    return out


def markdown(results: dict) -> str:
    m, cfg, steps = results["machine"], results["config"], results["steps"]
    floor, service = by_rate(steps, "floor"), by_rate(steps, "service")
    rates = sorted(set(floor) | set(service))
    lines = [
        "# click2call benchmark: the service against the floor Asterisk sets",
        "",
        f"Run {m['started']} – {results['finished']}, commit `{m['commit']}`. Machine: {m['cores']} cores "
        f"({m['cpu']}), {m['mem_gb']} GB, Linux {m['kernel']}, Python {m['python']}, Asterisk {m['asterisk']} "
        f"(the lab's, in a chroot on the same machine, with sipp phones and carrier also on it).",
        "",
        f"Each step offers calls at a fixed rate for {cfg['calls_per_step'] or cfg['step_seconds']} "
        f"{'calls' if cfg['calls_per_step'] else 's'}; agents answer after {cfg['agent_ring_ms']} ms, the carrier "
        f"after {cfg['carrier_ring_ms']} ms and hangs up {cfg['hold_ms']} ms later. Floor and service alternate at "
        f"each rate; {cfg['repeats']} repeat(s); figures are medians over the repeats. The service runs on SQLite "
        f"with no rate limit and no per-token cap; no webhook is subscribed in the throughput steps.",
        "",
        *([f"Note: {cfg['note']}", ""] if cfg.get("note") else []),
        "## Targets",
        "",
        "| target | measured | wanted | |",
        "| --- | --- | --- | --- |",
    ]
    for name, measured, wanted, ok in verdicts(results):
        lines.append(f"| {name} | {measured} | {wanted} | {'met' if ok else 'missed' if ok is False else '?'} |")
    lines += [
        "",
        "## Latency of a click-to-call: `GET /v1/click2call/async` vs the floor's endpoint check + originate",
        "",
        "Service: the HTTP request as a CRM sees it (the client is on the same machine). Floor: `GET /endpoints` + "
        "`POST /channels` from the driver. ms.",
        "",
        "| calls/s | service p50 | p95 | p99 | floor p50 | p95 | p99 | p50 ratio |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rates:
        s, f = service.get(r, {}), floor.get(r, {})
        lines.append(f"| {r:g} | {_ms(s.get('lat_p50'))} | {_ms(s.get('lat_p95'))} | {_ms(s.get('lat_p99'))} | "
                     f"{_ms(f.get('lat_p50'))} | {_ms(f.get('lat_p95'))} | {_ms(f.get('lat_p99'))} | "
                     f"{_f(_ratio(s.get('lat_p50'), f.get('lat_p50')), 2)} |")
    lines += [
        "",
        "## Throughput",
        "",
        "Connected: both legs up (the customer answered). Setup: request sent to the customer's answer (Asterisk's "
        "event time), so it includes the two ring delays. CPU: utime + stime from /proc over the whole step, "
        "drain included, per connected call; *app* is the service, or the floor's driver.",
        "",
        "| calls/s | side | connected | connected/s | setup p50 | p95 | p99 (ms) | app CPU ms/call | "
        "Asterisk CPU ms/call | errors |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rates:
        for name, rows in (("floor", floor), ("service", service)):
            x = rows.get(r)
            if not x:
                continue
            lines.append(f"| {r:g} | {name} | {_pct(x['connected_frac'])} | {_f(x['connected_cps'])} | "
                         f"{_ms(x['setup_p50'], 0)} | {_ms(x['setup_p95'], 0)} | {_ms(x['setup_p99'], 0)} | "
                         f"{_f(x['app_cpu'])} | {_f(x['asterisk_cpu'])} | {x['errors']} |")
    kf, ks = knee(floor), knee(service)
    lines += ["", f"Knee (highest rate with ≥ {CONNECT_MIN:.0%} connected, connect rate ≥ {KEEP_UP:.0%} of offered "
              f"and setup p50 ≤ {SETUP_GROWTH:g}× the lowest rate's): floor **{_f(kf, 0)}** calls/s, service "
              f"**{_f(ks, 0)}** calls/s."]
    events = [s["events"] for s in steps if s["kind"] == "floor" and s.get("events")]
    if events:
        total = {}
        for e in events:
            for k, v in e.items():
                total[k] = total.get(k, 0) + v
        n = sum(s["offered"] for s in steps if s["kind"] == "floor")
        lines += ["", "ARI events per call the floor's app receives: " + ", ".join(
            f"{k} {v / n:.1f}" for k, v in sorted(total.items(), key=lambda kv: -kv[1])) + "."]
    hooks = sorted((h for h in (results.get("webhook_low"), results.get("webhook_floor"), results.get("webhook")) if h),
                   key=lambda h: h["rate"])
    if hooks:
        lines += [
            "",
            "## Webhook latency",
            "",
            "Hooks for ringing, answered, hangup and cdr to a local receiver (a bare asyncio HTTP server in its own "
            "process); one service step at the lowest rate, one at the floor's knee and one at the service's knee. "
            "Latency: the event's Asterisk timestamp (in the payload) to the receiver's arrival time, for ringing and "
            "answered. Setup and CPU are those of the same step (CPU includes sending the webhooks).",
            "",
            "| calls/s | calls connected | deliveries | by event | p50 | p95 | p99 | max (ms) | setup p50 (ms) | "
            "service CPU ms/call | Asterisk CPU ms/call |",
            "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for hook in hooks:
            w = hook["webhooks"]
            lines.append(
                f"| {hook['rate']:g} | {hook['connected']}/{hook['offered']} | {w['received']} | "
                f"{', '.join(f'{k} {v}' for k, v in sorted(w['by_event'].items()))} | "
                f"{_ms(w['latency']['p50'])} | {_ms(w['latency']['p95'])} | {_ms(w['latency']['p99'])} | "
                f"{_ms(w['latency']['max'])} | {_ms(hook['setup']['p50'], 0)} | {_f(hook['service_cpu_ms_per_call'])} | "
                f"{_f(hook['asterisk_cpu_ms_per_call'])} |")
    sync = results.get("sync")
    if sync:
        lines += [
            "",
            "## Sync capacity",
            "",
            f"{sync['requests']} `GET /v1/click2call` (sync) sent at once to agents that answer after "
            f"{cfg['sync_ring_ms']} ms.",
            "",
            "| requests | succeeded | records | peak pending (gauge) | last answer after | service peak RSS | "
            "RSS high-water mark |",
            "| ---: | ---: | --- | ---: | ---: | ---: | ---: |",
            f"| {sync['requests']} | {sync['succeeded']} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(sync['statuses'].items()))} | {sync['pending_peak']} | "
            f"{sync['seconds_to_last_answer']:.1f} s | {sync['rss_peak_mb']:.0f} MB | {sync['rss_hwm_mb']:.0f} MB |",
        ]
        if sync["errors"]:
            lines.append(f"\nErrors: {sync['errors']}")
    lines += ["", f"Channels left in Asterisk at the end: {results['channels_left']}.", ""]
    if results.get("cluster"):
        lines += ["", cluster_markdown(results["cluster"], results.get("cluster_wider"))]
    return "\n".join(lines)


def plot(results: dict, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    steps = results["steps"]
    floor, service = by_rate(steps, "floor"), by_rate(steps, "service")
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    for rows, name, style in ((floor, "floor", "o--"), (service, "service", "s-")):
        rates = sorted(rows)
        ax[0][0].plot(rates, [rows[r]["connected_cps"] or 0 for r in rates], style, label=name)
        ax[0][1].plot(rates, [1000 * (rows[r]["setup_p50"] or 0) for r in rates], style, label=f"{name} p50")
        ax[0][1].plot(rates, [1000 * (rows[r]["setup_p95"] or 0) for r in rates], style, alpha=.4,
                      label=f"{name} p95")
        ax[1][0].plot(rates, [rows[r]["app_cpu"] or 0 for r in rates], style,
                      label="service" if name == "service" else "floor driver")
        ax[1][0].plot(rates, [rows[r]["asterisk_cpu"] or 0 for r in rates], style, alpha=.5,
                      label=f"Asterisk ({name} run)")
        ax[1][1].plot(rates, [1000 * (rows[r]["lat_p50"] or 0) for r in rates], style, label=f"{name} p50")
        ax[1][1].plot(rates, [1000 * (rows[r]["lat_p99"] or 0) for r in rates], style, alpha=.4,
                      label=f"{name} p99")
    all_rates = sorted(set(floor) | set(service))
    ax[0][0].plot(all_rates, all_rates, ":", color="grey", label="offered")
    titles = ("calls connected per second", "setup latency (ms, log): request → customer answer",
              "CPU per connected call (ms)", "async click-to-call latency (ms, log)")
    ax[0][1].set_yscale("log")
    ax[1][1].set_yscale("log")
    for a, t in zip((ax[0][0], ax[0][1], ax[1][0], ax[1][1]), titles):
        a.set_title(t, fontsize=10)
        a.set_xlabel("offered calls/s")
        a.grid(alpha=.3)
        a.legend(fontsize=8)
    m = results["machine"]
    fig.suptitle(f"click2call vs the ARI floor — {m['cores']} cores {m['cpu']}, Asterisk {m['asterisk']}",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write(results: dict, out: Path) -> None:
    text = markdown(results)
    if plot(results, out / "report.png"):
        text = text.replace("## Targets", "![plots](report.png)\n\n## Targets", 1)
    (out / "REPORT.md").write_text(text)



# ---- the cluster step (bench/cluster.py) and the capacity model derived from it ----

TARGET_CPS = 500  # the centre of issue 12: calls placed per second ...
TARGET_CONCURRENT = 20_000  # ... and held at once
HEADROOM = 0.6  # plan each core (and each single-threaded replica) to this share of its capacity


def _group(cpu: dict, prefix: str) -> float | None:
    vals = [v for k, v in cpu.items() if k.startswith(prefix) and v is not None]
    return sum(vals) if vals else None


def cluster_carried(steps: list[dict], setup: str) -> dict | None:
    """The highest rate this set-up carried: ≥ 99% connected and connected/s ≥ 95% of offered."""
    ok = [s for s in steps if s["setup"] == setup and s["offered"] and s["connected"] / s["offered"] >= CONNECT_MIN
          and (s["connected_cps"] or 0) >= KEEP_UP * s["rate"]]
    return max(ok, key=lambda s: s["rate"]) if ok else None


def capacity(c: dict) -> dict | None:
    """Per-call costs measured at the 2x2's highest carried rate, scaled to TARGET_CPS (linear: an extrapolation)."""
    step = cluster_carried(c["steps"], "2x2")
    if not step:
        return None
    per = step["cpu_ms_per_call"]
    replica_ms, asterisk_ms, pg_ms = _group(per, "replica"), _group(per, "asterisk"), per.get("postgresql")
    cores = {name: TARGET_CPS * ms / 1000 for name, ms in
             (("replicas", replica_ms), ("asterisk", asterisk_ms), ("postgresql", pg_ms)) if ms is not None}
    # One replica is one Python process: at most one core, planned at HEADROOM of it. A node's event stream is
    # consumed by one replica, so a node's rate is bounded by what one replica carries too.
    per_replica_cps = HEADROOM * 1000 / (replica_ms or 1)
    replicas = -(-TARGET_CPS // per_replica_cps)
    return {
        "rate": step["rate"], "replica_ms": replica_ms, "asterisk_ms": asterisk_ms, "pg_ms": pg_ms,
        "haproxy_ms": per.get("haproxy"), "statements": step["statements_per_call"], "wal": step["wal_bytes_per_call"],
        "cores": cores, "per_replica_cps": per_replica_cps, "replicas": int(replicas) + 1,  # + 1: survive a loss
        "statements_s": TARGET_CPS * (step["statements_per_call"] or 0),
        "wal_mb_s": TARGET_CPS * (step["wal_bytes_per_call"] or 0) / 1e6,
        "hold_s": TARGET_CONCURRENT / TARGET_CPS,
    }


def cluster_table(steps: list[dict]) -> list[str]:
    lines = [
        "| set-up | calls/s | connected | connected/s | setup p50 | p99 (ms) | replicas CPU ms/call | "
        "Asterisk CPU ms/call | PostgreSQL ms/call | HAProxy ms/call | statements/call | WAL bytes/call | errors | "
        "cores busy (of 2) | machine busy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for s in sorted(steps, key=lambda s: (s["rate"], s["setup"])):
        per = s["cpu_ms_per_call"]
        reps = " + ".join(_f(v) for k, v in per.items() if k.startswith("replica"))
        asts = " + ".join(_f(v) for k, v in per.items() if k.startswith("asterisk"))
        lines.append(
            f"| {s['setup']} | {s['rate']:g} | {_pct(s['connected'] / s['offered'] if s['offered'] else None)} | "
            f"{_f(s['connected_cps'])} | {_ms(s['setup_p50'], 0)} | {_ms(s['setup_p99'], 0)} | {reps} | {asts} | "
            f"{_f(per.get('postgresql'))} | {_f(per.get('haproxy'))} | {_f(s['statements_per_call'])} | "
            f"{_f(s['wal_bytes_per_call'], 0)} | {', '.join(f'{k} {v}' for k, v in s['errors'].items()) or 0} | "
            f"{_f(sum(s['cpu_s'].values()) / s['seconds'], 2)} | {_f(s.get('machine_busy_cores'), 2)} |")
    return lines


def flips(a: dict, b: dict) -> str:
    """Steps carried in one run and not in the other: how much the shared machine moves the figures."""
    def carried(s: dict) -> bool:
        return bool(s["offered"]) and s["connected"] / s["offered"] >= CONNECT_MIN and \
            (s["connected_cps"] or 0) >= KEEP_UP * s["rate"]
    first = {(s["setup"], s["rate"]): s for s in a["steps"]}
    out = [f"{k[0]} at {k[1]:g} calls/s ({_f(first[k]['connected_cps'])} → {_f(s['connected_cps'])} connected/s)"
           for s in b["steps"] if (k := (s["setup"], s["rate"])) in first and carried(first[k]) != carried(s)]
    return (" Carried in one run and not in the other: " + "; ".join(out) + ": the machine is shared.") if out else ""


def cluster_markdown(c: dict, wider: dict | None = None) -> str:
    cfg = c["config"]
    lines = [
        "## Cluster: 2 nodes x 2 replicas against 1 x 1 (issue 12)",
        "",
        f"bench/cluster.py. Both set-ups on one real PostgreSQL 15 (fsync on, same machine). **1x1**: the plain service "
        f"(no `C2C_CLUSTER`), node a only, clicked directly. **2x2**: nodes a and b (two Asterisks from the one "
        f"chroot), replicas r1 and r2 with `C2C_CLUSTER=true`, `C2C_NODE_LEASE={cfg['lease']}`, one node each, "
        f"clicked through HAProxy (round robin); agents {cfg['pool']} extensions on each node, clicked alternately. "
        f"Each step offers calls at a fixed rate for {cfg['step_seconds']:g} s; agents and carrier answer after 300 ms, "
        f"the carrier hangs up {cfg['hold_ms']} ms later; the sipp legs send no RTP. One run, no repeats.",
        "",
        "**All of it (2 Asterisks, 2 replicas, PostgreSQL, HAProxy, sipp, the load generator) shares the machine's "
        "2 cores, with other work of other sessions running beside it**: absolute rates here are what 2 shared cores "
        "carry, not what the cluster carries; the per-call CPU is what scales.",
        "",
        "CPU: utime + stime from /proc over the whole step (drain included) per connected call; PostgreSQL is the "
        "postmaster and all its children (backends, WAL writer, checkpointer). Statements: `pg_stat_statements` "
        "(`track=all`) calls in the set-up's database, the benchmark's own queries left out. WAL: "
        "`pg_wal_lsn_diff(pg_current_wal_lsn(), ...)` over the step. Cores busy: the measured components' CPU over "
        "the step's wall time (sipp and the load generator not counted); machine busy: the whole machine's from "
        "/proc/stat (everything: sipp, the load generator and other sessions' work too; second run only).",
        "",
    ]
    lines += cluster_table(c["steps"])
    idle = c.get("setups", {})
    if idle:
        lines += ["", "Background with no call (idle, per second): " + "; ".join(
            f"{name}: {_f(v['idle']['statements_per_s'])} statements/s, {_f(v['idle']['wal_bytes_per_s'], 0)} WAL B/s, "
            f"CPU {', '.join(f'{k} {_f(x)}' for k, x in v['idle']['cpu_ms_per_s'].items())} ms/s"
            for name, v in idle.items()) + ". The 2x2's is the leases (each replica renews every lease / 3) "
            "and its pollers; it does not grow with calls, so at the low rates it inflates the per-call figures."]
    fo = c.get("failover")
    if fo:
        lines += [
            "",
            "### A replica SIGKILLed under load",
            "",
            f"Clicks at {cfg['failover_rate']:g}/s through HAProxy; 3 s in, SIGKILL of {fo['killed']} (owner of node "
            f"{fo['node']}); the survivor's `GET /v1/cluster` polled every 50 ms.",
            "",
            f"- Node {fo['node']} owned again (by {fo['survivor']}) **{_f(fo['owned_after_s'], 2)} s** after the SIGKILL "
            f"(lease {fo['lease_s']} s: the bound is the lease, plus up to one renewal period).",
            f"- Calls in progress on node {fo['node']} at the kill: {fo['calls_on_node_at_kill']}; their records now: "
            f"{', '.join(f'{k} {v}' for k, v in fo['their_statuses'].items()) or '-'} (hangup_by and cause: "
            f"{', '.join(f'{k}: {v}' for k, v in fo['their_hangup_by'].items()) or '-'}); "
            f"left in progress: {fo['left_in_progress']}.",
            f"- Clicks: {fo['clicks']} sent, {fo['clicks_after_kill']} after the kill; errors "
            f"{', '.join(f'{k} {v}' for k, v in fo['errors'].items()) or 'none'} (after the kill: "
            f"{', '.join(f'{k} {v}' for k, v in fo['errors_after_kill'].items()) or 'none'}).",
        ]
        if any(k.startswith("system 38") for k in fo["their_hangup_by"]):
            lines.append(
                f"- `system 38` on calls that had connected: the carrier hangs up {cfg['hold_ms']} ms after answering, "
                "so these calls ended while nobody owned the node; the survivor, adopting them, found every leg gone "
                "and closed them as a restart does (stasis_app/calls.py, resync: system, Q.850 38). Records final (no webhook was subscribed here), "
                "but who hung up is lost for calls that end inside the gap.")
        if fo["their_statuses"].get("FAILED"):
            lines.append("- FAILED, although every agent and the carrier answer here: a call still being set up at "
                         "the kill, whose answer came while nobody owned the node. Not looked into further: an open "
                         "question for the hand-over.")
        if fo["errors_after_kill"]:
            lines.append("- SERVICE_UNAVAILABLE: a click for an extension of the node while it had no owner (503 "
                         "naming the node, as the README says); clicks for the other node went on.")
    both = [r for r in sorted({s["rate"] for s in c["steps"]}, reverse=True)
            if all(cluster_carried([s for s in c["steps"] if s["rate"] <= r], k) and
                   cluster_carried([s for s in c["steps"] if s["rate"] <= r], k)["rate"] == r for k in ("1x1", "2x2"))]
    if both:
        r = both[0]
        one, two = (next(s for s in c["steps"] if s["setup"] == k and s["rate"] == r) for k in ("1x1", "2x2"))
        lines += ["", f"**What the cluster costs per call** (both carried {r:g} calls/s): replicas "
                      f"{_f(_group(one['cpu_ms_per_call'], 'replica'))} → {_f(_group(two['cpu_ms_per_call'], 'replica'))} "
                      f"ms, Asterisk {_f(_group(one['cpu_ms_per_call'], 'asterisk'))} → "
                      f"{_f(_group(two['cpu_ms_per_call'], 'asterisk'))} ms, PostgreSQL "
                      f"{_f(one['cpu_ms_per_call'].get('postgresql'))} → {_f(two['cpu_ms_per_call'].get('postgresql'))} ms, "
                      f"statements {_f(one['statements_per_call'])} → {_f(two['statements_per_call'])}, WAL "
                      f"{_f(one['wal_bytes_per_call'], 0)} → {_f(two['wal_bytes_per_call'], 0)} bytes (1x1 → 2x2)."]
    if wider:
        w1, w2 = (cluster_carried(wider["steps"], k) for k in ("1x1", "2x2"))
        lines += ["", f"### A second run, up to {max(s['rate'] for s in wider['steps']):g} calls/s: where each set-up "
                      "stops keeping up on these 2 cores", "",
                  f"Same set-ups, started afresh, {wider['finished'] if 'finished' in wider else 'right after the first'}"
                  f"; highest rate carried (≥ 99 % connected at ≥ 95 % of the offered rate): 1x1 "
                  f"**{w1['rate'] if w1 else '-'}**, 2x2 **{w2['rate'] if w2 else '-'}** calls/s. The 2x2 runs twice "
                  "the processes and more CPU per call on the same 2 cores (with other sessions' work beside it), so "
                  "here it stops first; on its own cores each node and replica would add capacity." + flips(c, wider), ""]
        lines += cluster_table(wider["steps"])
        if wider.get("failover"):
            fo = wider["failover"]
            lines += ["", f"Its SIGKILL: node {fo['node']} owned again after **{_f(fo['owned_after_s'], 2)} s**; "
                          f"{fo['calls_on_node_at_kill']} calls on it at the kill, records "
                          f"{', '.join(f'{k} {v}' for k, v in fo['their_statuses'].items()) or '-'}, "
                          f"left in progress {fo['left_in_progress']}; click errors "
                          f"{', '.join(f'{k} {v}' for k, v in fo['errors'].items()) or 'none'}."]
    cap = capacity(c)
    if cap:
        cores = cap["cores"]
        lines += [
            "",
            f"### Capacity model: {TARGET_CPS} calls/s placed, {TARGET_CONCURRENT:,} calls held at once",
            "",
            f"**Measured** (2x2 at {cap['rate']:g} calls/s, the highest rate it carried here): per connected call, "
            f"replicas {_f(cap['replica_ms'])} ms CPU, Asterisk {_f(cap['asterisk_ms'])} ms, PostgreSQL "
            f"{_f(cap['pg_ms'])} ms, HAProxy {_f(cap['haproxy_ms'])} ms; {_f(cap['statements'])} statements and "
            f"{_f(cap['wal'], 0)} WAL bytes. **Extrapolated** (linearly, from those per-call costs; nothing at "
            f"{TARGET_CPS} calls/s was run). Statements per call fall as the rate grows (the tables above: the "
            f"service batches its writes), so the {cap['rate']:g} calls/s figure is likely an upper bound at "
            f"{TARGET_CPS}:",
            "",
            "| component | at 500 calls/s | sizing |",
            "| --- | --- | --- |",
            f"| replicas | {_f(cores.get('replicas'))} cores | one replica is one Python process (one core at most); at "
            f"{int(HEADROOM * 100)} % of a core one carries ≈ {cap['per_replica_cps']:.0f} calls/s: "
            f"**{cap['replicas']} replicas** (one more than needed, so a SIGKILL loses no capacity) |",
            f"| Asterisk (signalling only) | {_f(cores.get('asterisk'))} cores | each node's event stream is consumed "
            f"by one replica, so one node takes at most ≈ {cap['per_replica_cps']:.0f} calls/s (conservative: the owner does only the "
            f"events' part of a call's replica CPU): at least "
            f"**{-(-TARGET_CPS // int(cap['per_replica_cps']))} nodes**; media decides more (below) |",
            f"| PostgreSQL | {_f(cores.get('postgresql'))} cores, {cap['statements_s']:,.0f} statements/s, "
            f"{_f(cap['wal_mb_s'])} MB/s WAL | one primary (and a standby) with ≥ "
            f"{-(-cores.get('postgresql', 0) // HEADROOM):.0f} cores for the service alone; WAL is "
            f"{_f(cap['wal_mb_s'] * 3.6)} GB an hour to archive |",
            "",
            f"**Held calls.** {TARGET_CONCURRENT:,} at once at {TARGET_CPS} calls/s is a mean call of "
            f"{cap['hold_s']:.0f} s (Little's law). For the replicas and PostgreSQL that is {TARGET_CONCURRENT:,} "
            "rows in progress and a task each in the replica that owns the call's node; their memory is not measured "
            "here (the single-node Sync capacity part holds 1,000 pending in one process). For Asterisk it is media, which "
            "this benchmark does not measure (sipp sends no RTP): two legs per call, 50 packets/s each way at 20 ms "
            f"packets, is {TARGET_CONCURRENT * 2 * 2 * 50 / 1e6:.0f} million RTP packets/s relayed unless the "
            "phones and carrier exchange media directly (`direct_media`), and recordings on top. "
            "**What bounds it first**: the placing rate bounds the replicas and, through the one-replica-per-node "
            "event stream, the number of nodes; the held calls' media bounds Asterisk if it relays RTP, and would "
            "then set the node count well above the signalling figure: measure a node with RTP before buying nodes. "
            "PostgreSQL comes next: one server, not sharded, but its statements per call (above) are the figure "
            "to bring down before it becomes the bound, since it is the one part that does not scale out.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out")
    write(json.loads((out / "results.json").read_text()), out)
