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


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out")
    write(json.loads((out / "results.json").read_text()), out)
