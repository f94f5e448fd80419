"""The benchmark: the service against the floor Asterisk sets, side by side in one run, on the lab's real Asterisk.

Needs a started lab (lab/lab.sh start, with a load-test pool large enough: LAB_LOADPOOL_LAST); scripts/bench.sh does
that and runs this. Parts (see the README's "Benchmark" section): throughput steps (floor and service alternate at
each offered rate, repeated), webhook latency at the lowest rate, the floor's knee and the service's knee, and sync capacity (many
sync requests pending at once). Writes results.json, REPORT.md and report.png to the output directory.

    python -m bench.run --out bench/out            # the full run (about 11 minutes)
    python -m bench.run --out /tmp/b --quick       # a few calls per part
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from lab import labkit

from . import cluster, report
from .common import REPO, cpu_seconds, percentile, rss_mb

TOKEN = "bench-token"


@dataclass
class Config:
    out: Path
    rates: list[float] = field(default_factory=lambda: [10, 20, 30, 40, 60, 80])
    step_seconds: float = 10.0  # each step offers rate * step_seconds calls ...
    calls_per_step: int | None = None  # ... unless this says how many
    repeats: int = 3
    warmup_calls: int = 10
    sync_pending: int = 1000
    sync_ring_ms: int = 5000  # the sync phase's agents answer after this long
    agent_ring_ms: int = 300
    carrier_ring_ms: int = 300
    hold_ms: int = 2000  # the customer (carrier) hangs up after this long
    ext_first: int = 9001
    throughput_exts: int = 1000  # extensions for the throughput steps; the sync phase's follow them
    agent_port: int = 5290
    slow_agent_port: int = 5291
    reuse_carrier: bool = False  # a carrier already on the trunk's port (the test suite's) is used as it is
    service_port: int = 18280
    receiver_port: int = 18281
    service_app: str = "click2call-bench"
    floor_app: str = "bench-floor"
    hotline: str = "02873000002"
    trunk: str = "trunk-b"
    phone: str = "0899098899"
    webhooks: bool = True
    profile: str | None = None  # "py-spy": record the service during the last repeat's highest step
    sides: tuple[str, ...] = ("floor", "service")  # development runs may leave one out
    note: str = ""  # said in the report (e.g. what else ran on the machine)

    def calls_at(self, rate: float) -> int:
        return self.calls_per_step or max(1, round(rate * self.step_seconds))


class Bench:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.work = cfg.out / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.lab = labkit.read_env()
        self.asterisk_pid = int((labkit.run_dir() / "asterisk.pid").read_text())
        self.ari = httpx.AsyncClient(base_url=self.lab["C2C_ARI_URL"] + "/ari",
                                     auth=(self.lab["C2C_ARI_USER"], self.lab["C2C_ARI_PASSWORD"]), timeout=10)
        first, n = cfg.ext_first, cfg.throughput_exts
        self.tput_exts = [str(e) for e in range(first, first + n)]
        self.sync_exts = [str(e) for e in range(first + n, first + n + cfg.sync_pending)]
        self.next_ext = 0
        self.sipps: list[labkit.Sipp] = []
        self.service: subprocess.Popen | None = None
        self.db = self.work / "calls.db"
        self.base = f"http://127.0.0.1:{cfg.service_port}"
        self.log = open(cfg.out / "bench.log", "a")

    def say(self, msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    # ---- the lab around the service ----

    def start_phones(self) -> None:
        c = self.cfg
        self.sipps.append(sipp("uas_answer", c.agent_port, self.work, ring_ms=c.agent_ring_ms).start())
        if c.sync_pending:
            self.sipps.append(sipp("uas_answer", c.slow_agent_port, self.work, ring_ms=c.sync_ring_ms).start())
        trunk_port = int(self.lab["LAB_TRUNK_B_PORT"])
        if c.reuse_carrier and labkit.udp_bound(trunk_port):
            self.say(f"carrier: the one already on {trunk_port}")
        else:
            self.sipps.append(sipp("uas_answer_then_bye", trunk_port, self.work, ring_ms=c.carrier_ring_ms,
                                   hold_ms=c.hold_ms).start())
        labkit.register(self.tput_exts, c.agent_port, rate=500)
        if self.sync_exts:
            labkit.register(self.sync_exts, c.slow_agent_port, rate=500)

    def stop_phones(self) -> None:
        for exts, port in ((self.tput_exts, self.cfg.agent_port), (self.sync_exts, self.cfg.slow_agent_port)):
            try:
                labkit.unregister(exts, port, rate=500)
            except Exception as exc:  # the lab may be gone already
                self.say(f"unregister: {exc}")
        for s in self.sipps:
            s.stop()

    def start_service(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_")}
        env.update({k: v for k, v in self.lab.items() if k.startswith("C2C_")})
        env.update({
            "C2C_ARI_APP": self.cfg.service_app,
            "C2C_API_TOKENS": TOKEN,
            "C2C_HOTLINES": f"{self.cfg.hotline}={self.cfg.trunk}",
            "C2C_LISTEN": f"127.0.0.1:{self.cfg.service_port}",
            "C2C_DATABASE_URL": f"sqlite:///{self.db}",
            "C2C_RATE_LIMIT": "0",
            "C2C_MAX_CALLS_PER_TOKEN": "0",
            "C2C_RING_TIMEOUT": str(max(30, self.cfg.sync_ring_ms // 1000 + 30)),
            "C2C_RECORDINGS_DIR": str(self.work / "recordings"),
            # the webhook step's hooks go to a receiver on 127.0.0.1, with secrets of their own (stored encrypted)
            "C2C_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "C2C_SECRET_KEY": "YmVuY2gtc2VjcmV0LWtleS1mb3ItYXQtcmVzdC0wMDE=",
        })
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.db}{suffix}").unlink(missing_ok=True)
        log = open(self.work / "service.log", "ab")
        self.service = subprocess.Popen([sys.executable, "-m", "click2call", "serve"], env=env, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.work)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.service.poll() is not None:
                raise RuntimeError(f"click2call exited {self.service.returncode} (log: {self.work / 'service.log'})")
            try:
                if httpx.get(self.base + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("click2call not ready within 30 s")

    def stop_service(self) -> None:
        p, self.service = self.service, None
        if p and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    async def channels(self) -> list[dict]:
        return (await self.ari.get("/channels")).json()

    async def wait_idle(self, timeout: float = 60) -> int:
        """Wait until Asterisk has no channel left; returns how many were left (0 when idle)."""
        deadline = time.monotonic() + timeout
        while True:
            left = len(await self.channels())
            if left == 0 or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.2)

    def take_exts(self, n: int) -> list[str]:
        out = [self.tput_exts[(self.next_ext + i) % len(self.tput_exts)] for i in range(n)]
        self.next_ext = (self.next_ext + n) % len(self.tput_exts)
        return out

    # ---- one step of the floor ----

    async def floor_step(self, rate: float, n: int) -> dict:
        cfg = {"ari_url": self.lab["C2C_ARI_URL"], "ari_user": self.lab["C2C_ARI_USER"],
               "ari_password": self.lab["C2C_ARI_PASSWORD"], "app": self.cfg.floor_app, "exts": self.take_exts(n),
               "rate": rate, "calls": n, "phone": self.cfg.phone, "trunk": self.cfg.trunk, "drain_timeout": 60}
        ast0 = cpu_seconds(self.asterisk_pid)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.floor", cwd=REPO,
                                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        out, _ = await proc.communicate(json.dumps(cfg).encode())
        ast1 = cpu_seconds(self.asterisk_pid)
        if proc.returncode != 0:
            raise RuntimeError(f"floor driver exited {proc.returncode}")
        result = json.loads(out)
        calls = result["calls"]
        return summarise("floor", rate, calls, [c["lat_originate"] for c in calls if c["error"] is None],
                         [c["error"] for c in calls if c["error"]], driver_cpu=result["cpu"],
                         asterisk_cpu=ast1 - ast0, events=result["events"], left=await self.wait_idle())

    # ---- one step of the service ----

    async def service_step(self, rate: float, n: int, client: httpx.AsyncClient, kind: str = "service") -> dict:
        exts = self.take_exts(n)
        sent: list[dict] = []

        async def one(ext: str) -> None:
            item = {"ext": ext, "t_send": time.time()}
            started = time.perf_counter()
            try:
                r = await client.get("/v1/click2call/async", params={
                    "ext": ext, "phone": self.cfg.phone, "hotline": self.cfg.hotline})
                item["latency"] = time.perf_counter() - started
                body = r.json()
                item["call_id"] = body.get("call_id")
                item["error"] = None if r.status_code == 200 else body.get("error", str(r.status_code))
            except httpx.HTTPError as exc:
                item["latency"] = time.perf_counter() - started
                item["error"] = type(exc).__name__
            sent.append(item)

        svc0, ast0 = cpu_seconds(self.service.pid), cpu_seconds(self.asterisk_pid)
        tasks = []
        t0 = time.monotonic()
        for i, ext in enumerate(exts):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(ext)))
        await asyncio.gather(*tasks)
        await self.service_drained(client)
        svc1, ast1 = cpu_seconds(self.service.pid), cpu_seconds(self.asterisk_pid)
        rows = self.records([s["call_id"] for s in sent if s.get("call_id")])
        calls = []
        for s in sent:
            row = rows.get(s.get("call_id"), {})
            calls.append({"ext": s["ext"], "t_send": s["t_send"], "error": s["error"],
                          "t_connected": row.get("customer_answered_at"), "status": row.get("status")})
        return summarise(kind, rate, calls, [s["latency"] for s in sent if s["error"] is None],
                         [s["error"] for s in sent if s["error"]], service_cpu=svc1 - svc0,
                         asterisk_cpu=ast1 - ast0, left=await self.wait_idle(),
                         statuses=dict(Counter(c["status"] for c in calls if c["status"])))

    async def service_drained(self, client: httpx.AsyncClient, timeout: float = 90) -> None:
        """Every call of the service has ended (its record is final)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not (await client.get("/v1/call")).json()["data"]:
                return
            await asyncio.sleep(0.2)
        self.say("service still has calls in progress after the drain timeout")

    def records(self, call_ids: list[str]) -> dict[str, dict]:
        """The service's call records, read straight from its SQLite file (times to the millisecond)."""
        out: dict[str, dict] = {}
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as db:
            db.row_factory = sqlite3.Row
            for i in range(0, len(call_ids), 500):
                chunk = call_ids[i:i + 500]
                q = f"SELECT * FROM calls WHERE call_id IN ({','.join('?' * len(chunk))})"
                out.update({r["call_id"]: dict(r) for r in db.execute(q, chunk)})
        return out

    # ---- the parts ----

    async def throughput(self, client: httpx.AsyncClient) -> list[dict]:
        steps = []
        self.say(f"warm-up: {self.cfg.warmup_calls} calls each")
        if "floor" in self.cfg.sides:
            await self.floor_step(self.cfg.rates[0], self.cfg.warmup_calls)
        await self.service_step(self.cfg.rates[0], self.cfg.warmup_calls, client)
        for rep in range(self.cfg.repeats):
            for rate in self.cfg.rates:
                n = self.cfg.calls_at(rate)
                # alternate who goes first, so a drift of the machine does not favour one side
                order = ("floor", "service") if (rep + self.cfg.rates.index(rate)) % 2 == 0 else ("service", "floor")
                for who in (w for w in order if w in self.cfg.sides):
                    profile = None
                    if who == "service" and self.cfg.profile and rep == self.cfg.repeats - 1 \
                            and rate == self.cfg.rates[-1]:
                        profile = self.start_profile(f"service-{rate:g}cps")
                    step = await (self.floor_step(rate, n) if who == "floor" else self.service_step(rate, n, client))
                    if profile:
                        profile.send_signal(signal.SIGINT)
                        profile.wait(30)
                    step["repeat"] = rep
                    steps.append(step)
                    self.say(brief(step))
        return steps

    def start_profile(self, name: str) -> subprocess.Popen:
        out = self.cfg.out / f"profile-{name}.txt"  # collapsed stacks: flamegraph.pl or speedscope read them
        return subprocess.Popen(["py-spy", "record", "-p", str(self.service.pid), "-o", str(out), "-r", "200",
                                 "--format", "raw", "--nonblocking"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def webhook_latency(self, client: httpx.AsyncClient, rate: float) -> dict:
        """Hooks for every event to a local receiver; one service step at `rate`; ARI event time -> receipt."""
        out = self.work / "received.jsonl"
        recv = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(self.cfg.receiver_port), str(out)],
                                cwd=REPO, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert recv.stdout.readline().strip() == b"ready"
        hook_ids = []
        try:
            for event in ("ringing", "answered", "hangup", "cdr"):
                r = await client.post("/v1/event", json={
                    "callback_url": f"http://127.0.0.1:{self.cfg.receiver_port}/hook", "event": event,
                    "secret": "whsec_" + "YmVuY2gtd2ViaG9vay1zZWNyZXQtMzItYnl0ZXMhIQ=="})
                r.raise_for_status()
                hook_ids.append(r.json()["data"]["id"])
            profile = self.start_profile(f"webhooks-{rate:g}cps") if self.cfg.profile else None
            step = await self.service_step(rate, self.cfg.calls_at(rate), client, kind="service+webhooks")
            svc0 = cpu_seconds(self.service.pid)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                metrics = (await client.get("/metrics")).text
                if metric(metrics, "click2call_webhook_queue_depth") == 0:
                    break
                await asyncio.sleep(0.2)
            step["service_cpu"] += cpu_seconds(self.service.pid) - svc0  # the last sends belong to the step
            if profile:
                profile.send_signal(signal.SIGINT)
                profile.wait(30)
            step["service_cpu_ms_per_call"] = step["app_cpu_ms_per_call"] = per_call(step["service_cpu"],
                                                                                     step["connected"])
        finally:
            for hook_id in hook_ids:
                await client.delete(f"/v1/event/{hook_id}")
            recv.send_signal(signal.SIGTERM)
            recv.wait(10)
        received = [json.loads(line) for line in out.read_text().splitlines()]
        lat = [r["at"] - r["body"]["timestamp"] for r in received
               if r["body"] and r["body"].get("state") in ("ringing", "answered")]
        step["webhooks"] = {
            "received": len(received),
            "by_event": dict(Counter(r["body"]["state"] for r in received if r["body"])),
            "latency": quantiles(lat),
        }
        return step

    async def sync_capacity(self) -> dict:
        """All sync requests at once to agents that answer after sync_ring_ms: all must succeed, the service's
        resident memory is watched."""
        n = len(self.sync_exts)
        limits = httpx.Limits(max_connections=n + 16, max_keepalive_connections=n + 16)
        timeout = self.cfg.sync_ring_ms / 1000 + 120
        pending_peak = 0
        rss_peak = 0.0
        stop = asyncio.Event()

        async def watch(client: httpx.AsyncClient) -> None:
            nonlocal pending_peak, rss_peak
            while not stop.is_set():
                rss_peak = max(rss_peak, rss_mb(self.service.pid)[0])
                try:
                    text = (await client.get("/metrics", timeout=5)).text
                    pending_peak = max(pending_peak, int(metric(text, "click2call_pending_sync_requests") or 0))
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)

        results: list[dict] = []
        async with httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {TOKEN}"},
                                     limits=limits, timeout=timeout) as client, \
                httpx.AsyncClient(base_url=self.base) as probe:
            watcher = asyncio.create_task(watch(probe))
            svc0, ast0 = cpu_seconds(self.service.pid), cpu_seconds(self.asterisk_pid)
            t0 = time.time()

            async def one(ext: str) -> None:
                started = time.time()
                try:
                    r = await client.get("/v1/click2call", params={
                        "ext": ext, "phone": self.cfg.phone, "hotline": self.cfg.hotline})
                    body = r.json()
                    results.append({"status": r.status_code, "ok": body.get("status") == "success",
                                    "call_id": body.get("call_id"), "error": body.get("error"),
                                    "latency": time.time() - started})
                except httpx.HTTPError as exc:
                    results.append({"status": 0, "ok": False, "error": type(exc).__name__,
                                    "latency": time.time() - started})

            await asyncio.gather(*(one(ext) for ext in self.sync_exts))
            answered_all = time.time() - t0
            await self.service_drained(client, timeout=120)
            stop.set()
            await watcher
            svc1, ast1 = cpu_seconds(self.service.pid), cpu_seconds(self.asterisk_pid)
        rows = self.records([r["call_id"] for r in results if r.get("call_id")])
        statuses = Counter(row["status"] for row in rows.values())
        return {
            "requests": n, "succeeded": sum(r["ok"] for r in results),
            "errors": dict(Counter(r["error"] for r in results if not r["ok"])),
            "statuses": dict(statuses), "pending_peak": pending_peak, "rss_peak_mb": rss_peak,
            "rss_hwm_mb": rss_mb(self.service.pid)[1], "seconds_to_last_answer": answered_all,
            "latency": quantiles([r["latency"] for r in results if r["ok"]]),
            "service_cpu": svc1 - svc0, "asterisk_cpu": ast1 - ast0, "left": await self.wait_idle(),
        }

    async def run(self) -> dict:
        cfg = self.cfg
        info = await self.machine()
        try:
            self.start_phones()
            self.start_service()
            # Idle connections are dropped before uvicorn's 5 s keep-alive timeout would close them under a request.
            limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=3)
            async with httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {TOKEN}"},
                                         limits=limits, timeout=60) as client:
                steps = await self.throughput(client)
                knee = report.knee(report.by_rate(steps, "service"), cfg.rates) or cfg.rates[0]
                floor_knee = report.knee(report.by_rate(steps, "floor"), cfg.rates)
                webhook = webhook_low = webhook_floor = None
                if cfg.webhooks:
                    # At the lowest rate, at the floor's knee and at the service's own knee.
                    for rate in sorted({cfg.rates[0], floor_knee or knee, knee}):
                        self.say(f"webhook latency at {rate:g} calls/s")
                        step = await self.webhook_latency(client, rate)
                        self.say(brief(step) + f" webhooks {step['webhooks']}")
                        if rate == knee:
                            webhook = step
                        elif rate == floor_knee:
                            webhook_floor = step
                        else:
                            webhook_low = step
            sync = None
            if cfg.sync_pending:
                self.say(f"sync capacity: {cfg.sync_pending} requests at once, agents answer after "
                         f"{cfg.sync_ring_ms} ms")
                sync = await self.sync_capacity()
                self.say(f"sync: {sync}")
            rss = rss_mb(self.service.pid)
        finally:
            self.stop_service()
            self.stop_phones()
            await self.ari.aclose()
        left = len(await self.channels_after())
        config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
        return {"machine": info, "config": config, "steps": steps, "webhook": webhook, "webhook_low": webhook_low,
                "webhook_floor": webhook_floor,
                "sync": sync,
                "service_rss_end_mb": rss[0], "service_rss_hwm_mb": rss[1], "channels_left": left,
                "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}

    async def channels_after(self) -> list[dict]:
        async with httpx.AsyncClient(base_url=self.lab["C2C_ARI_URL"] + "/ari", timeout=10,
                                     auth=(self.lab["C2C_ARI_USER"], self.lab["C2C_ARI_PASSWORD"])) as ari:
            deadline = time.monotonic() + 30
            while True:
                chans = (await ari.get("/channels")).json()
                if not chans or time.monotonic() > deadline:
                    return chans
                await asyncio.sleep(0.2)

    async def machine(self) -> dict:
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                   platform.processor())
        mem = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
        info = (await self.ari.get("/asterisk/info")).json()
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                    text=True).stdout.strip()
        except OSError:
            commit = ""
        return {"cpu": cpu, "cores": os.cpu_count(), "mem_gb": round(mem / 1024 / 1024, 1),
                "kernel": platform.release(), "python": platform.python_version(),
                "asterisk": info.get("system", {}).get("version", "?"), "commit": commit,
                "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def sipp(scenario: str, port: int, work: Path, **variables: object) -> labkit.Sipp:
    """A lab sipp UAS without the per-message trace (at 80 calls/s it would cost more CPU than what we measure)."""
    return labkit.Sipp(scenario, port, vars=variables, workdir=work, trace_messages=False)


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def quantiles(values: list[float]) -> dict:
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "max": max(values) if values else None}


def per_call(cpu: float | None, calls: int) -> float | None:
    return None if cpu is None or not calls else 1000 * cpu / calls


def summarise(kind: str, rate: float, calls: list[dict], originate_latency: list[float], errors: list[str], *,
              asterisk_cpu: float, left: int, driver_cpu: float | None = None, service_cpu: float | None = None,
              events: dict | None = None, statuses: dict | None = None) -> dict:
    connected = [c for c in calls if c.get("t_connected")]
    setup = [c["t_connected"] - c["t_send"] for c in connected]
    times = sorted(c["t_connected"] for c in connected)
    span = times[-1] - times[0] if len(times) > 1 else 0
    cps = (len(times) - 1) / span if span > 0 else None
    app_cpu = service_cpu if service_cpu is not None else driver_cpu
    return {
        "kind": kind, "rate": rate, "offered": len(calls), "originated": len(originate_latency),
        "connected": len(connected), "connected_cps": cps, "errors": dict(Counter(errors)),
        "originate_latency": quantiles(originate_latency), "setup": quantiles(setup),
        "asterisk_cpu": asterisk_cpu, "asterisk_cpu_ms_per_call": per_call(asterisk_cpu, len(connected)),
        "driver_cpu": driver_cpu, "service_cpu": service_cpu,
        "app_cpu_ms_per_call": per_call(app_cpu, len(connected)),
        "service_cpu_ms_per_call": per_call(service_cpu, len(connected)),
        "events": events, "statuses": statuses, "channels_left": left,
    }


def brief(step: dict) -> str:
    ms = lambda v: "-" if v is None else f"{1000 * v:.1f}"  # noqa: E731
    f = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    return (f"{step['kind']:>16} {step['rate']:>5g}/s: {step['connected']}/{step['offered']} connected, "
            f"{f(step['connected_cps'])}/s, originate p50 {ms(step['originate_latency']['p50'])} ms, "
            f"setup p50 {ms(step['setup']['p50'])} p95 {ms(step['setup']['p95'])} ms, "
            f"cpu/call app {f(step['app_cpu_ms_per_call'])} asterisk {f(step['asterisk_cpu_ms_per_call'])} ms"
            f"{' errors ' + str(step['errors']) if step['errors'] else ''}"
            f"{' LEFT ' + str(step['channels_left']) if step['channels_left'] else ''}")


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def run(cfg: Config, cluster_cfg: "cluster.ClusterConfig | None" = None) -> dict:
    """The whole benchmark; returns the results and writes results.json, REPORT.md and report.png to cfg.out.
    With cluster_cfg, the cluster step (bench/cluster.py) runs after the rest, on nodes of its own."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    raise_nofile()
    results = asyncio.run(Bench(cfg).run())
    if cluster_cfg is not None:
        results["cluster"] = cluster.run(cluster_cfg, say=lambda m: print(f"{time.strftime('%H:%M:%S')} {m}",
                                                                          flush=True))
    (cfg.out / "results.json").write_text(json.dumps(results, indent=1))
    report.write(results, cfg.out)
    return results


def run_cluster(cfg: "cluster.ClusterConfig") -> dict:
    """Only the cluster step; its results replace the "cluster" part of cfg.out's results.json (the single-node
    figures already there are kept) and the report is written again."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    raise_nofile()
    path = cfg.out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["cluster"] = cluster.run(cfg, say=lambda m: print(f"{time.strftime('%H:%M:%S')} {m}", flush=True))
    path.write_text(json.dumps(results, indent=1))
    if "steps" in results:
        report.write(results, cfg.out)
    else:
        (cfg.out / "REPORT.md").write_text(report.cluster_markdown(results["cluster"]))
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    p.add_argument("--rates", default="10,20,30,40,60,80", help="offered calls/s, comma-separated")
    p.add_argument("--step-seconds", type=float, default=10.0)
    p.add_argument("--calls-per-step", type=int)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sync", type=int, default=1000, help="sync requests pending at once (0: skip)")
    p.add_argument("--sync-ring-ms", type=int, default=5000)
    p.add_argument("--hold-ms", type=int, default=2000)
    p.add_argument("--no-webhooks", action="store_true")
    p.add_argument("--profile", choices=["py-spy"])
    p.add_argument("--sides", default="floor,service", help=argparse.SUPPRESS)
    p.add_argument("--note", default="", help="a sentence for the report (e.g. what else ran on the machine)")
    p.add_argument("--quick", action="store_true", help="a few calls per part, to see that it works")
    p.add_argument("--no-cluster", action="store_true", help="leave out the cluster step (bench/cluster.py)")
    p.add_argument("--cluster-only", action="store_true", help="only the cluster step; merged into --out's results")
    p.add_argument("--cluster-rates", default="10,20,40,60", help="offered calls/s of the cluster step")
    p.add_argument("--cluster-lease", type=int, default=3, help="C2C_NODE_LEASE of the cluster step's replicas")
    a = p.parse_args(argv)
    cfg = Config(out=a.out, rates=[float(r) for r in a.rates.split(",")], step_seconds=a.step_seconds,
                 calls_per_step=a.calls_per_step, repeats=a.repeats, sync_pending=a.sync, sync_ring_ms=a.sync_ring_ms,
                 hold_ms=a.hold_ms, webhooks=not a.no_webhooks, profile=a.profile,
                 sides=tuple(a.sides.split(",")), note=a.note)
    ccfg = cluster.ClusterConfig(out=a.out, rates=[float(r) for r in a.cluster_rates.split(",")],
                                 step_seconds=a.step_seconds, lease=a.cluster_lease, hold_ms=a.hold_ms)
    if a.quick:
        cfg.rates, cfg.calls_per_step, cfg.repeats, cfg.sync_pending, cfg.warmup_calls = [5, 10], 10, 1, 20, 3
        ccfg.rates, ccfg.calls_per_step, ccfg.idle_seconds, ccfg.failover_seconds, ccfg.failover_rate = [5], 10, 2, 5, 3
        ccfg.pool = 30
    if a.cluster_only:
        run_cluster(ccfg)
    else:
        run(cfg, None if a.no_cluster else ccfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
