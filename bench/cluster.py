"""The cluster step of the benchmark (issue 12, "Figures"): 2 Asterisk nodes x 2 replicas behind HAProxy against
1 node x 1 replica, both on one real PostgreSQL, at the same offered rates; then a replica SIGKILLed under load.

Per step: connected calls and calls/s, setup p50/p99 (request sent to the customer's answer), CPU per connected
call of each replica, each Asterisk, PostgreSQL (postmaster + its backends) and HAProxy (utime + stime from /proc),
PostgreSQL statements per call (pg_stat_statements, the bench's own queries left out) and WAL bytes per call
(pg_wal_lsn_diff of pg_current_wal_lsn). An idle period before the steps gives each set-up's background (lease
renewals, pollers), so per-call figures can be read net of it.

It starts its own nodes a and b (lab.sh LAB_NODE, run dirs under $C2C_LAB_RUN), PostgreSQL (tests/pgkit.py),
replicas (tests/lab/conftest.py's Service) and HAProxy (labkit.HAProxy); it needs the chroot provisioned, not a
started default lab. Ports: ARI 8191/8192, SIP 5064/5065, agents 5290/5291, carrier on LAB_TRUNK_B_PORT (5071).

    python -m bench.run --cluster-only --out /tmp/cb          # only this step
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from lab import labkit
from tests.lab.conftest import TOKEN, Service, service_env
from tests.pgkit import Postgres

from .common import cpu_seconds, percentile

HOTLINE = "02873000002"  # trunk-b: the carrier answers after 0.3 s, hangs up hold_ms later
MARK = "/* bench */"  # in the bench's own SQL, so pg_stat_statements counts can leave it out


@dataclass
class ClusterConfig:
    out: Path
    rates: list[float] = field(default_factory=lambda: [10, 20, 40, 60])
    step_seconds: float = 10.0
    calls_per_step: int | None = None
    idle_seconds: float = 5.0
    lease: int = 3  # C2C_NODE_LEASE, as tests/lab/test_cluster.py (the default is 10: takeover scales with it)
    failover_rate: float = 10.0
    failover_seconds: float = 12.0  # clicks keep coming this long after the SIGKILL
    hold_ms: int = 2000
    pool: int = 600  # extensions per group (reused after pool / rate s: more than a call lasts) (1x1: one group on a; 2x2: one on a, one on b)
    nodes: dict = field(default_factory=lambda: {"a": {"ari_port": 8191, "sip_port": 5064},
                                                 "b": {"ari_port": 8192, "sip_port": 5065}})
    agent_ports: tuple[int, int] = (5290, 5291)

    def calls_at(self, rate: float) -> int:
        return self.calls_per_step or max(1, round(rate * self.step_seconds))


def proc_cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:  # gone (a killed replica, a PostgreSQL backend that ended)
        return 0.0


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine from /proc/stat: what others running beside us use too."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(v[:8]) - idle) / tick, sum(v[:8]) / tick


def postgres_cpu(postmaster: int) -> float:
    """The postmaster, its reaped children (cutime + cstime) and its live children (the backends, WAL writer ...)."""
    with open(f"/proc/{postmaster}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total = sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    rest = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(rest[1]) == postmaster:
                total += (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
    return total


class Setup:
    """One set-up under test: its replicas, their nodes, where clicks go and what to measure."""

    def __init__(self, name: str, replicas: dict[str, Service], base: str, exts: list[str], lb=None) -> None:
        self.name, self.replicas, self.base, self.exts, self.lb = name, replicas, base, exts, lb
        self.next = 0

    def take(self, n: int) -> list[str]:
        out = [self.exts[(self.next + i) % len(self.exts)] for i in range(n)]
        self.next = (self.next + n) % len(self.exts)
        return out


class ClusterBench:
    def __init__(self, cfg: ClusterConfig, say) -> None:
        self.cfg, self.say = cfg, say
        self.work = cfg.out / "cluster"
        self.work.mkdir(parents=True, exist_ok=True)
        n = cfg.pool
        self.pool_1 = [str(e) for e in range(9001, 9001 + n)]  # 1x1, on node a
        self.pool_a = [str(e) for e in range(9001 + n, 9001 + 2 * n)]  # 2x2, on node a
        self.pool_b = [str(e) for e in range(9001 + 2 * n, 9001 + 3 * n)]  # 2x2, on node b
        self.pg: Postgres | None = None
        self.sipps: list[labkit.Sipp] = []
        self.services: list[Service] = []
        self.lbs: list[labkit.HAProxy] = []
        self.envs: dict[str, dict] = {}
        self.stats: asyncpg.Connection | None = None

    # ---- the lab ----

    def start_lab(self) -> None:
        os.environ["LAB_LOADPOOL_LAST"] = str(9000 + 3 * self.cfg.pool)  # lab.sh makes that many extensions
        self.pg = Postgres().start({"shared_preload_libraries": "pg_stat_statements",
                                    "pg_stat_statements.track": "all", "max_connections": "200"})
        self.envs = labkit.start_nodes(self.cfg.nodes)
        from .run import sipp  # the bench's sipp: no per-message trace
        pa, pb = self.cfg.agent_ports
        self.sipps = [sipp("uas_answer", pa, self.work, ring_ms=300).start(),
                      sipp("uas_answer", pb, self.work, ring_ms=300).start(),
                      sipp("uas_answer_then_bye", int(self.envs["a"].get("LAB_TRUNK_B_PORT", 5071)), self.work,
                           ring_ms=300, hold_ms=self.cfg.hold_ms).start()]
        labkit.register(self.pool_1 + self.pool_a, pa, node="a", rate=500)
        labkit.register(self.pool_b, pb, node="b", rate=500)

    def stop_lab(self) -> None:
        for lb in self.lbs:
            lb.stop()
        for svc in self.services:
            svc.stop()
        for s in self.sipps:
            s.stop()
        for node in self.cfg.nodes:
            try:
                labkit.stop(node)
            except labkit.LabError as exc:
                self.say(f"stop node {node}: {exc}")
        if self.pg:
            self.pg.stop()

    def replica(self, name: str, nodes: list[str], db: str, port: int, clustered: bool) -> Service:
        env = service_env({}, **{
            "C2C_ASTERISK_NODES": ",".join(f"{n}={self.envs[n]['C2C_ARI_URL']}" for n in nodes),
            **{f"C2C_ARI_PASSWORD_{n.upper()}": self.envs[n]["C2C_ARI_PASSWORD"] for n in nodes},
            "C2C_ARI_USER": "click2call", "C2C_ARI_APP": f"click2call-{db.rsplit('/', 1)[1]}",
            "C2C_LISTEN": f"127.0.0.1:{port}", "C2C_DATABASE_URL": db, "C2C_RATE_LIMIT": "0",
            "C2C_MAX_CALLS_PER_TOKEN": "0", "C2C_RING_TIMEOUT": "30", "C2C_REPLICA_NAME": name,
            "C2C_RECORDINGS_DIR": str(self.work / "recordings"),
            **({"C2C_CLUSTER": "true", "C2C_NODE_LEASE": str(self.cfg.lease), "C2C_ARI_GRACE": "2",
                "C2C_AGENT_CONTEXT": "click2call-stasis", "C2C_DRAIN_SECONDS": "2.5"} if clustered else {}),
        })
        svc = Service(env, str(self.work / f"{name}.log"))
        self.services.append(svc)
        return svc.start()

    def one_by_one(self) -> Setup:
        """The plain service (no C2C_CLUSTER) on PostgreSQL, node a only, clicked directly."""
        db = self.pg.new_database()
        r = self.replica("single", ["a"], db, free_port(), clustered=False)
        return Setup("1x1", {"single": r}, r.base, self.pool_1)

    def two_by_two(self) -> Setup:
        db = self.pg.new_database()
        ports = {"r1": free_port(), "r2": free_port()}
        reps = {}
        for name, port in ports.items():  # one after the other: two at once on a new database race the migrations
            reps[name] = self.replica(name, ["a", "b"], db, port, clustered=True)
        # As tests/lab/test_cluster.py: a hand-over makes /readyz 503 everywhere for up to lease / 3.
        lb = labkit.HAProxy(ports, free_port(), check="/readyz", inter_ms=250, fall=8, workdir=self.work).start()
        self.lbs.append(lb)
        setup = Setup("2x2", reps, lb.base, [e for pair in zip(self.pool_a, self.pool_b) for e in pair], lb)
        deadline = time.monotonic() + 30
        while sorted(map(str, self.owners(setup).values())) != ["r1", "r2"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the replicas did not take one node each: {self.owners(setup)}")
            time.sleep(0.2)
        for name in reps:
            lb.wait_status(name, "UP", 20)
        return setup

    def owners(self, setup: Setup, via: str | None = None) -> dict[str, str | None]:
        base = setup.replicas[via].base if via else next(iter(setup.replicas.values())).base
        body = httpx.get(base + "/v1/cluster", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
        names = {r["id"]: r["name"] for r in body["replicas"]}
        return {n["name"]: names.get(n["owner"], n["owner"]) for n in body["nodes"]}

    def pids(self, setup: Setup) -> dict[str, int]:
        out = {f"replica {n}": s.proc.pid for n, s in setup.replicas.items() if s.proc and s.proc.poll() is None}
        nodes = ["a"] if setup.name == "1x1" else ["a", "b"]
        out.update({f"asterisk {n}": int((labkit.node_run_dir(n) / "asterisk.pid").read_text()) for n in nodes})
        if setup.lb:
            out["haproxy"] = setup.lb.proc.pid
        return out

    # ---- measuring ----

    def cpu(self, pids: dict[str, int]) -> dict[str, float]:
        out = {name: proc_cpu(pid) for name, pid in pids.items()}
        out["postgresql"] = postgres_cpu(self.postmaster)
        return out

    async def pg_counters(self, db: str) -> dict[str, float]:
        row = await self.stats.fetchrow(
            f"SELECT {MARK} (SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d "
            "ON d.oid = s.dbid WHERE d.datname = $1 AND s.query NOT LIKE '%/* bench */%') AS statements, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS wal, "
            "(SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1) AS xacts", db)
        return {"statements": float(row["statements"]), "wal": float(row["wal"]), "xacts": float(row["xacts"])}

    async def measure(self, setup: Setup, work, db: str) -> dict:
        pids = self.pids(setup)
        pg0, cpu0, t0, m0 = await self.pg_counters(db), self.cpu(pids), time.monotonic(), machine_busy()
        extra = await work()
        await asyncio.sleep(1.0)  # the last statements of the calls' ends
        pg1, cpu1, t1, m1 = await self.pg_counters(db), self.cpu(pids), time.monotonic(), machine_busy()
        return {"seconds": t1 - t0, "machine_busy_cores": (m1[0] - m0[0]) / (t1 - t0),
                "cpu": {k: cpu1[k] - cpu0[k] for k in cpu0},
                "statements": pg1["statements"] - pg0["statements"], "wal_bytes": pg1["wal"] - pg0["wal"],
                **(extra or {})}

    async def drained(self, conn: asyncpg.Connection, call_ids: list[str], timeout: float = 90) -> int:
        deadline = time.monotonic() + timeout
        while True:
            left = await conn.fetchval(f"SELECT {MARK} count(*) FROM calls WHERE status = 'IN_PROGRESS' "
                                       "AND call_id = ANY($1::text[])", call_ids)
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.25)

    async def clicks(self, setup: Setup, rate: float, n: int, client: httpx.AsyncClient,
                     during=None) -> list[dict]:
        """n clicks at `rate` per second through the set-up's entry point; `during(t0)` runs beside them."""
        sent: list[dict] = []

        async def one(ext: str) -> None:
            item = {"ext": ext, "t_send": time.time(), "error": None, "call_id": None}
            try:
                r = await client.get(setup.base + "/v1/click2call/async",
                                     params={"ext": ext, "phone": "0899098899", "hotline": HOTLINE})
                body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
                item["call_id"] = body.get("call_id")
                if r.status_code != 200:
                    item["error"] = body.get("error") or f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                item["error"] = type(exc).__name__
            sent.append(item)

        side = asyncio.create_task(during(time.time())) if during else None
        tasks, t0 = [], time.monotonic()
        for i, ext in enumerate(setup.take(n)):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(ext)))
        await asyncio.gather(*tasks)
        if side:
            sent.append({"side": await side})
        return sent

    async def step(self, setup: Setup, db: str, conn: asyncpg.Connection, rate: float, n: int,
                   client: httpx.AsyncClient) -> dict:
        async def work():
            sent = await self.clicks(setup, rate, n, client)
            ids = [s["call_id"] for s in sent if s["call_id"]]
            left = await self.drained(conn, ids)
            return {"sent": sent, "left_in_progress": left}
        m = await self.measure(setup, work, db)
        sent = m.pop("sent")
        rows = {r["call_id"]: r for r in await conn.fetch(
            f"SELECT {MARK} call_id, status, node, customer_answered_at FROM calls WHERE call_id = ANY($1::text[])",
            [s["call_id"] for s in sent if s["call_id"]])}
        connected = [(s, rows[s["call_id"]]) for s in sent
                     if s["call_id"] in rows and rows[s["call_id"]]["customer_answered_at"]]
        setup_s = [r["customer_answered_at"] - s["t_send"] for s, r in connected]
        times = sorted(r["customer_answered_at"] for _, r in connected)
        cps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else None
        k = len(connected)
        per = (lambda v: 1000 * v / k if k else None)  # noqa: E731
        return {
            "setup": setup.name, "rate": rate, "offered": n, "connected": k, "connected_cps": cps,
            "errors": dict(Counter(s["error"] for s in sent if s["error"])),
            "statuses": dict(Counter(r["status"] for r in rows.values())),
            "by_node": dict(Counter(r["node"] for _, r in connected)),
            "setup_p50": percentile(setup_s, 50), "setup_p99": percentile(setup_s, 99),
            "seconds": m["seconds"], "cpu_s": m["cpu"],
            "cpu_ms_per_call": {name: per(v) for name, v in m["cpu"].items()},
            "statements": m["statements"], "statements_per_call": m["statements"] / k if k else None,
            "wal_bytes": m["wal_bytes"], "wal_bytes_per_call": m["wal_bytes"] / k if k else None,
            "left_in_progress": m["left_in_progress"], "machine_busy_cores": m["machine_busy_cores"],
        }

    async def idle(self, setup: Setup, db: str) -> dict:
        async def work():
            await asyncio.sleep(self.cfg.idle_seconds)
        m = await self.measure(setup, work, db)
        s = m["seconds"]
        return {"seconds": s, "cpu_ms_per_s": {k: 1000 * v / s for k, v in m["cpu"].items()},
                "statements_per_s": m["statements"] / s, "wal_bytes_per_s": m["wal_bytes"] / s}

    async def failover(self, setup: Setup, db: str, conn: asyncpg.Connection, client: httpx.AsyncClient) -> dict:
        """Clicks at failover_rate through HAProxy; 3 s in, SIGKILL the replica that owns node b; poll the survivor's
        GET /v1/cluster until it owns every node. Then: did every call of the killed replica's node end?"""
        owners = self.owners(setup)
        victim = owners["b"]
        survivor = next(n for n in setup.replicas if n != victim)
        out: dict = {"lease_s": self.cfg.lease, "killed": victim, "survivor": survivor, "node": "b"}

        async def kill_and_watch(t_start: float) -> dict:
            await asyncio.sleep(3)
            on_b = await conn.fetch(f"SELECT {MARK} call_id FROM calls WHERE status = 'IN_PROGRESS' AND node = 'b'")
            proc = setup.replicas[victim].proc
            t_kill = time.time()
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
            t_owned = None
            while time.time() - t_kill < 60:
                try:
                    if set(self.owners(setup, via=survivor).values()) == {survivor}:
                        t_owned = time.time()
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                await asyncio.sleep(0.05)
            return {"t_kill": t_kill, "owned_after_s": t_owned and t_owned - t_kill,
                    "in_progress_on_node_at_kill": [r["call_id"] for r in on_b]}

        n = max(1, round(self.cfg.failover_rate * (3 + self.cfg.failover_seconds)))
        sent = await self.clicks(setup, self.cfg.failover_rate, n, client, during=kill_and_watch)
        side = sent.pop()["side"]
        ids = [s["call_id"] for s in sent if s["call_id"]]
        left = await self.drained(conn, ids + side["in_progress_on_node_at_kill"], timeout=60)
        at_kill = side.pop("in_progress_on_node_at_kill")
        rows = await conn.fetch(f"SELECT {MARK} call_id, status, hangup_by, cause FROM calls WHERE call_id = ANY($1::text[])",
                                at_kill)
        after = [s for s in sent if s["t_send"] >= side["t_kill"]]
        out.update(side)
        out.update({
            "owned_after_s": side["owned_after_s"], "calls_on_node_at_kill": len(at_kill),
            "their_statuses": dict(Counter(r["status"] for r in rows)),
            "their_hangup_by": dict(Counter(f"{r['hangup_by']} {r['cause']}" for r in rows)),
            "clicks": len(sent), "clicks_after_kill": len(after),
            "errors": dict(Counter(s["error"] for s in sent if s["error"])),
            "errors_after_kill": dict(Counter(s["error"] for s in after if s["error"])),
            "left_in_progress": left,
        })
        return out

    async def run(self) -> dict:
        self.say("cluster: starting PostgreSQL, nodes a and b, agents and carrier")
        self.start_lab()
        try:
            self.postmaster = int(Path(self.pg.data, "postmaster.pid").read_text().split()[0])
            stats_url = f"postgresql://postgres@127.0.0.1:{self.pg.port}/postgres"
            self.stats = await asyncpg.connect(stats_url)
            await self.stats.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=3)
            results: dict = {"config": {k: (str(v) if isinstance(v, Path) else v)
                                        for k, v in self.cfg.__dict__.items()}, "setups": {}, "steps": []}
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, limits=limits,
                                         timeout=60) as client:
                for make in (self.one_by_one, self.two_by_two):
                    setup = make()
                    db = self.services[-1].env["C2C_DATABASE_URL"]
                    dbname = db.rsplit("/", 1)[1]
                    conn = await asyncpg.connect(db)
                    try:
                        await self.clicks(setup, self.cfg.rates[0], 4, client)  # warm-up
                        await asyncio.sleep(4)
                        base = await self.idle(setup, dbname)
                        results["setups"][setup.name] = {"idle": base}
                        self.say(f"cluster {setup.name} idle: {fmt(base)}")
                        for rate in self.cfg.rates:
                            step = await self.step(setup, dbname, conn, rate, self.cfg.calls_at(rate), client)
                            results["steps"].append(step)
                            self.say(brief(step))
                        if setup.name == "2x2":
                            fo = await self.failover(setup, dbname, conn, client)
                            results["failover"] = fo
                            self.say(f"cluster failover: {fmt(fo)}")
                    finally:
                        await conn.close()
                        if setup.lb:
                            setup.lb.stop()
                        for svc in setup.replicas.values():
                            svc.stop()
            await self.stats.close()
            return results
        finally:
            self.stop_lab()


def free_port() -> int:
    from tests.lab.conftest import free_port as fp
    return fp()


def fmt(d: dict) -> str:
    return ", ".join(f"{k}={round(v, 2) if isinstance(v, float) else v}" for k, v in d.items()
                     if not isinstance(v, (list, dict)) or k in ("errors", "errors_after_kill", "their_statuses"))


def brief(s: dict) -> str:
    ms = lambda v: "-" if v is None else f"{1000 * v:.0f}"  # noqa: E731
    cpu = " ".join(f"{k}:{v:.1f}" for k, v in s["cpu_ms_per_call"].items()
                   if v is not None)
    return (f"cluster {s['setup']} {s['rate']:g}/s: {s['connected']}/{s['offered']} connected "
            f"{(s['connected_cps'] or 0):.1f}/s setup p50 {ms(s['setup_p50'])} p99 {ms(s['setup_p99'])} ms; "
            f"cpu ms/call {cpu}; stmts/call {s['statements_per_call'] or 0:.1f} "
            f"WAL/call {s['wal_bytes_per_call'] or 0:.0f} B"
            f"{' errors ' + str(s['errors']) if s['errors'] else ''}")


def run(cfg: ClusterConfig, say=print) -> dict:
    return asyncio.run(ClusterBench(cfg, say).run())
