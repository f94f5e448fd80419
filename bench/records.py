"""Every record query at a million records (issue 17): fill a database with a year of calls, then time, through the
service's own query code (the functions the API calls), every CDR filter and combination a CRM uses, both paging
modes with their total, deep pages and scroll, the live-call list, the monitor, the inbound survey's look-ups, an
agent token's own calls and a CDR by id, on SQLite and on PostgreSQL; with each query's plan.

    scripts/bench.sh records                    # both databases, a million calls, before (main's code) and after
    python -m bench.records all --calls 50000 --out /tmp/r    # the same, smaller
    python -m bench.records fill --url sqlite:////tmp/r/calls.db --calls 1000000
    python -m bench.records measure --url ... --label after --out /tmp/r/sqlite-after.json
    python -m bench.records report --out bench/RECORDS.md /tmp/r/*.json

`measure` runs the click2call package it finds first on the path: `all` runs it once with the code of a git revision
(`--before`, default main) on the schema that code migrates to, then with this tree's code (which migrates the
database to its newest schema first, timed), so the report shows both.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import records_fill as made
from .common import REPO, percentile

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SAMPLES = 400  # calls read at random moments of the year, whose numbers, ids and positions the queries use


# ---------------------------------------------------------------- fill

def _migrate(url: str, revision: str) -> None:
    """The schema as of `revision` (the fill is made at main's schema; `measure` migrates it on)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import create_async_engine

    import click2call.db as db

    def upgrade(conn: sa.Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)

    async def run() -> None:
        engine = create_async_engine(db.async_url(url))
        async with engine.begin() as conn:
            await conn.run_sync(upgrade)
        await engine.dispose()

    asyncio.run(run())


def fill(url: str, n: int, per_call: int, seed: int, revision: str) -> dict:
    """A new database at `revision` with n calls and what the service writes beside them; returns what was made."""
    from click2call.db import agent_presence, agents, calls as calls_table
    took = {}
    t0 = time.perf_counter()
    _migrate(url, revision)
    w = made.world(seed)
    present = _columns(url)  # the schema at `revision`: a later one may have columns this one has not
    columns = [c.name for c in calls_table.columns if c.name in present]
    rows = made.calls(w, n, columns)
    took["generate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    live = [(r[columns.index("call_id")], r[columns.index("extension")], r[columns.index("phone")],
             r[columns.index("direction")], r[columns.index("created_at")])
            for r in rows[-made.IN_PROGRESS:] if r[columns.index("status")] == "IN_PROGRESS"]
    presence = made.presence_rows(w, live, w.end)
    paused = made.paused_rows(w, w.end)
    side = made.side_sql("postgresql" if url.startswith("postgresql") else "sqlite", per_call) if per_call else []
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode=OFF")  # a bulk load into a new file: nothing to recover if it stops
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-400000")
        con.executemany(f"INSERT INTO calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)
        took["calls"] = time.perf_counter() - t0
        for table, items in (("agent_presence", presence), ("agents", paused)):
            keys = list(items[0])
            con.executemany(f"INSERT INTO {table} ({', '.join(keys)}) VALUES ({', '.join('?' * len(keys))})",
                            [tuple(i[k] for k in keys) for i in items])
        for statement in side:
            t1 = time.perf_counter()
            con.execute(statement)
            took[statement.split()[2]] = took.get(statement.split()[2], 0) + time.perf_counter() - t1
        con.commit()
        con.execute("PRAGMA journal_mode=WAL")  # as the service runs it
        con.close()
        size = os.path.getsize(path)
    else:
        size = asyncio.run(_fill_pg(url, columns, rows, presence, paused, side, took))
    del rows
    counts = _counts(url)
    meta = {"calls": n, "per_call": per_call, "seed": seed, "end": w.end, "revision": revision, "took": took,
            "bytes": size, "rows": counts}
    Path(_meta_path(url)).write_text(json.dumps(meta, indent=1))
    return meta


async def _fill_pg(url, columns, rows, presence, paused, side, took) -> int:
    import asyncpg
    con = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1))
    try:
        t0 = time.perf_counter()
        await con.copy_records_to_table("calls", records=rows, columns=columns)
        took["calls"] = time.perf_counter() - t0
        for table, items in (("agent_presence", presence), ("agents", paused)):
            keys = list(items[0])
            await con.copy_records_to_table(table, records=[tuple(i[k] for k in keys) for i in items], columns=keys)
        for statement in side:
            t1 = time.perf_counter()
            await con.execute(statement)
            key = statement.split()[2]
            took[key] = took.get(key, 0) + time.perf_counter() - t1
        t1 = time.perf_counter()
        await con.execute("VACUUM ANALYZE")  # what autovacuum would have done over the year
        took["vacuum_analyze"] = time.perf_counter() - t1
        return await con.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await con.close()


def _columns(url: str) -> set[str]:
    if url.startswith("sqlite"):
        con = sqlite3.connect(url.split("///", 1)[1])
        try:
            return {row[1] for row in con.execute("PRAGMA table_info(calls)")}
        finally:
            con.close()

    async def pg():
        import asyncpg
        con = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1))
        try:
            return {r[0] for r in await con.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'calls'")}
        finally:
            await con.close()
    return asyncio.run(pg())


def _counts(url: str) -> dict:
    tables = ["calls", "webhook_events", "deliveries", "delivery_attempts", "stream_events", "audit", "hooks",
              "agent_presence", "agents"]
    if url.startswith("sqlite"):
        con = sqlite3.connect(url.split("///", 1)[1])
        try:
            return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        finally:
            con.close()

    async def pg():
        import asyncpg
        con = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1))
        try:
            return {t: await con.fetchval(f"SELECT count(*) FROM {t}") for t in tables}
        finally:
            await con.close()
    return asyncio.run(pg())


def _meta_path(url: str) -> str:
    if url.startswith("sqlite"):
        return url.split("///", 1)[1] + ".meta.json"
    return os.path.join(tempfile.gettempdir(), "c2c-records-" + url.rsplit("/", 1)[1] + ".meta.json")


# ---------------------------------------------------------------- the queries

def _day(rng: random.Random, w: made.World, back_days: int = 0) -> datetime:
    start = w.start + back_days * made.DAY
    return datetime.fromtimestamp(rng.uniform(start, w.end - made.DAY), TZ)


def _d(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d")


def catalogue(w: made.World, samples: list[dict]):
    """(name, what it is, make(rng) -> (kind, args)). Each run draws its own parameters."""
    tenants = {t.name: t for t in w.tenants}

    def sample(rng, **where):
        """A sampled call with these values (customer=True: one with a customer_id)."""
        crm = where.pop("customer", False)
        pool = [s for s in samples if all(s[k] == v for k, v in where.items()) and (s["customer_id"] or not crm)]
        return rng.choice(pool or samples)

    def tenant_of(s):
        return tenants[s["tenant"]]

    def cursor(s):
        from click2call.schema.cdr import encode_cursor
        return encode_cursor(s)

    def month(rng):
        start = _day(rng, w, 0)
        return {"start_date": _d(start), "end_date": _d(start + timedelta(days=30))}

    def status(rng):
        return rng.choice(["ANSWERED", "NO_ANSWER", "BUSY", "CANCELLED", "FAILED"])

    op = ("operator", None)
    Q = []

    def q(name, what, make):
        Q.append((name, what, make))

    q("newest", "newest page, scroll paging (the CRM's call log)", lambda r: ("cdr", {}, op))
    q("newest+total", "newest page with its total (page=1)", lambda r: ("cdr", {"page": "1"}, op))
    q("tenant+total", "a tenant's token: newest page with total",
      lambda r: ("cdr", {"page": "1"}, ("tenant", r.choice(w.tenants).name)))
    q("phone", "phone (a customer's number, on either side), scroll",
      lambda r: ("cdr", {"phone": sample(r)["phone"]}, op))
    q("phone+total", "phone (a customer's number), page=1 with total",
      lambda r: ("cdr", {"phone": sample(r)["phone"], "page": "1"}, op))
    q("phone=hotline+total", "phone given a hotline's number (matches the hotline side), page=1 with total",
      lambda r: ("cdr", {"phone": r.choice(r.choice(w.tenants).hotlines), "page": "1"}, op))
    q("phone tenant", "a tenant's token: phone (screen-pop), scroll",
      lambda r: (lambda s: ("cdr", {"phone": s["phone"]}, ("tenant", s["tenant"])))(sample(r)))
    q("customer_id+total", "customer_id, page=1 with total",
      lambda r: (lambda s: ("cdr", {"customer_id": s["customer_id"], "page": "1"}, ("tenant", s["tenant"])))(
          sample(r, customer=True)))
    q("customer_id", "customer_id, scroll (operator token)",
      lambda r: ("cdr", {"customer_id": sample(r, customer=True)["customer_id"]}, op))
    q("extension+total", "extension, page=1 with total",
      lambda r: ("cdr", {"extension": r.choice(r.choice(w.tenants).extensions), "page": "1"}, op))
    q("status+total", "status (any final one), page=1 with total",
      lambda r: ("cdr", {"status": status(r), "page": "1"}, op))
    q("answered>=30s+total", "status=ANSWERED&min_duration=30, page=1 with total",
      lambda r: ("cdr", {"status": "ANSWERED", "min_duration": "30", "page": "1"}, op))
    q("min_duration+total", "min_duration (300-1200 s), page=1 with total",
      lambda r: ("cdr", {"min_duration": str(r.choice([300, 600, 1200])), "page": "1"}, op))
    q("hotline+total", "hotline, page=1 with total",
      lambda r: ("cdr", {"hotline": r.choice(r.choice(w.tenants).hotlines), "page": "1"}, op))
    q("day+total", "one day (start_date=end_date), page=1 with total",
      lambda r: (lambda d: ("cdr", {"start_date": d, "end_date": d, "page": "1"}, op))(_d(_day(r, w))))
    q("month+total", "30 days, page=1 with total", lambda r: ("cdr", {**month(r), "page": "1"}, op))
    q("year+total", "the whole year (start_date a year ago), page=1 with total",
      lambda r: ("cdr", {"start_date": _d(datetime.fromtimestamp(w.start, TZ)), "page": "1"}, op))
    q("tenant week NO_ANSWER+total", "a tenant: 7 days of NO_ANSWER (call-backs), page=1 with total",
      lambda r: (lambda d: ("cdr", {"start_date": _d(d), "end_date": _d(d + timedelta(days=6)),
                                    "status": "NO_ANSWER", "page": "1"}, ("tenant", r.choice(w.tenants).name)))(
          _day(r, w)))
    q("tenant ext month ANSWERED+total", "a tenant: extension + 30 days + ANSWERED, page=1 with total",
      lambda r: (lambda t: ("cdr", {"extension": r.choice(t.extensions), **month(r), "status": "ANSWERED",
                                    "page": "1"}, ("tenant", t.name)))(r.choice(w.tenants)))
    q("phone 90 days", "phone + 90 days, scroll",
      lambda r: (lambda d: ("cdr", {"phone": sample(r)["phone"], "start_date": _d(d),
                                    "end_date": _d(d + timedelta(days=90))}, op))(_day(r, w)))
    q("tenant hotline month status+total", "a tenant: hotline + 30 days + a status, page=1 with total",
      lambda r: (lambda t: ("cdr", {"hotline": r.choice(t.hotlines), **month(r), "status": status(r),
                                    "page": "1"}, ("tenant", t.name)))(r.choice(w.tenants)))
    q("customer_id ANSWERED", "customer_id + ANSWERED, scroll",
      lambda r: ("cdr", {"customer_id": sample(r, customer=True)["customer_id"], "status": "ANSWERED"}, op))
    q("ext>=60s+total", "extension + min_duration=60, page=1 with total",
      lambda r: ("cdr", {"extension": r.choice(r.choice(w.tenants).extensions), "min_duration": "60",
                         "page": "1"}, op))
    q("page 200+total", "deep page: page=200 (offset 9,950), with total",
      lambda r: ("cdr", {"page": str(r.randint(180, 220))}, op))
    q("page 2000+total", "very deep page: page=2000 (offset ~100,000), with total",
      lambda r: ("cdr", {"page": str(r.randint(1900, 2100))}, op))
    q("tenant ANSWERED page 100+total", "a tenant: ANSWERED, page=100, with total",
      lambda r: ("cdr", {"status": "ANSWERED", "page": str(r.randint(90, 110))}, ("tenant", r.choice(w.tenants).name)))
    q("scroll deep", "scroll_id from anywhere in the year (the next page)",
      lambda r: ("cdr", {"scroll_id": cursor(sample(r))}, op))
    q("scroll ext deep", "extension + scroll_id from anywhere in its year",
      lambda r: (lambda s: ("cdr", {"extension": s["extension"], "scroll_id": cursor(s)}, op))(
          sample(r, direction="outbound")))
    q("scroll phone", "phone + scroll_id (its next page)",
      lambda r: (lambda s: ("cdr", {"phone": s["phone"], "scroll_id": cursor(s)}, op))(sample(r)))
    q("limit 500+total", "a tenant: limit=500, page=1 with total",
      lambda r: ("cdr", {"limit": "500", "page": "1"}, ("tenant", r.choice(w.tenants).name)))
    q("agent own+total", "an agent token: its own calls, page=1 with total",
      lambda r: (lambda s: ("cdr", {"page": "1"}, ("agent", s["tenant"], s["extension"])))(
          sample(r, direction="outbound")))
    q("agent own phone", "an agent token: its own calls with a number, scroll",
      lambda r: (lambda s: ("cdr", {"phone": s["phone"]}, ("agent", s["tenant"], s["extension"])))(
          sample(r, direction="outbound")))
    q("live calls", "GET /v1/call, operator", lambda r: ("live", op))
    q("live calls tenant", "GET /v1/call, a tenant's token", lambda r: ("live", ("tenant", r.choice(w.tenants).name)))
    q("live calls agent", "GET /v1/call, an agent token",
      lambda r: (lambda t: ("live", ("agent", t.name, r.choice(t.extensions))))(r.choice(w.tenants)))
    q("monitor", "GET /v1/monitor/agent, operator", lambda r: ("monitor", op, None))
    q("monitor tenant", "GET /v1/monitor/agent, a tenant's token",
      lambda r: ("monitor", ("tenant", r.choice(w.tenants).name), None))
    q("monitor ext", "GET /v1/monitor/agent?extension=",
      lambda r: (lambda t: ("monitor", ("tenant", t.name), r.choice(t.extensions)))(r.choice(w.tenants)))
    q("survey", "inbound ring: each group agent's last call end, and the caller's sticky agent (7 days)",
      lambda r: (lambda t: ("survey", r.choice(t.groups)[1], sample(r, tenant=t.name)["phone"], 7))(
          r.choice(w.tenants)))
    today = datetime.fromtimestamp(w.end - 1, TZ).date()

    def days(n: int, group_by: str, **more) -> dict:
        return {"from": str(today - timedelta(days=n - 1)), "to": str(today), "group_by": group_by, **more}

    def some_tenant(r):
        return ("tenant", r.choice(w.tenants).name)

    # GET /v1/stats: what the console's dashboard draws (today, the last 7 days), then longer reports
    q("stats today by hour", "stats: today, by hour (operator)", lambda r: ("stats", days(1, "hour"), op))
    q("stats 7d by hour", "stats: the last 7 days, by hour (operator)", lambda r: ("stats", days(7, "hour"), op))
    q("stats 7d by day tenant", "stats: a tenant's last 7 days, by day",
      lambda r: ("stats", days(7, "day"), some_tenant(r)))
    q("stats 7d per agent", "stats: a tenant's last 7 days, per extension",
      lambda r: ("stats", days(7, "extension"), some_tenant(r)))
    q("stats 7d per hotline", "stats: the last 7 days, per hotline (operator)",
      lambda r: ("stats", days(7, "hotline"), op))
    q("stats 7d agent", "stats: an agent token's last 7 days, by day",
      lambda r: (lambda t: ("stats", days(7, "day"), ("agent", t.name, r.choice(t.extensions))))(
          r.choice(w.tenants)))
    q("stats 30d by day", "stats: the last 30 days, by day (operator)", lambda r: ("stats", days(30, "day"), op))
    q("stats 30d per agent", "stats: a tenant's last 30 days, per extension (the month's agent report)",
      lambda r: ("stats", days(30, "extension"), some_tenant(r)))
    q("stats year by day", "stats: the whole year, by day (operator)", lambda r: ("stats", days(365, "day"), op))
    q("stats year per agent", "stats: a tenant's whole year, per extension (a report beyond the dashboard)",
      lambda r: ("stats", days(365, "extension"), some_tenant(r)))
    q("stats year per tenant", "stats: the whole year, per tenant (operator)",
      lambda r: ("stats", days(365, "tenant"), op))
    q("cdr by id", "GET /v1/cdr/{id}: call_id", lambda r: (lambda s: ("get", s["call_id"], ("tenant", s["tenant"])))(
        sample(r)))
    q("cdr by sip id", "GET /v1/cdr/{id}: the customer leg's SIP Call-ID",
      lambda r: (lambda s: ("get", s["customer_sip_call_id"], op))(sample(r)))
    return Q


# ---------------------------------------------------------------- measuring

class Runner:
    """The service's read paths on one database, as the API calls them."""

    def __init__(self, url: str, w: made.World) -> None:
        self.url = url
        self.w = w
        self.captured: list[tuple[str, object]] | None = None

    async def open(self) -> float:
        import click2call
        from click2call.agent_store import AgentStore
        from click2call.agents import AgentsService
        from click2call.db import GroupCommit, open_database
        from click2call.records import CallStore
        from click2call.service import RecordsService
        self.code = str(Path(click2call.__file__).parent)
        t0 = time.perf_counter()
        self.engine = await open_database(self.url)  # migrates to the code's newest schema
        migrated = time.perf_counter() - t0
        self.write = GroupCommit(self.engine)
        self.store = CallStore(self.engine, write=self.write)
        self.records = RecordsService(TZ, self.store, replica=None)
        owner = {e: t.name for t in self.w.tenants for e in t.extensions}
        self.agents = AgentsService(AgentStore(self.engine, self.write, owner.get), TZ, frozenset())
        sa.event.listen(self.engine.sync_engine, "before_cursor_execute", self._capture)
        async with self.engine.connect() as conn:
            self.revision = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
        self.tallied = None
        if importlib.util.find_spec("click2call.tallies"):  # what the service counts in the background after a start
            from click2call.tallies import Tallies
            t0 = time.perf_counter()
            days = await Tallies(self.engine, self.write).count_days()
            self.tallied = {"days": days, "s": time.perf_counter() - t0}
            from click2call.stats import DaySums
            t0 = time.perf_counter()
            days = await DaySums(self.engine, self.write, TZ).count_days()
            self.tallied.update(stat_days=days, stat_s=time.perf_counter() - t0)
        return migrated

    def knows(self, kind: str) -> bool:
        """Whether this code has the read (the code before issue 17 has no statistics)."""
        return kind != "stats" or importlib.util.find_spec("click2call.stats") is not None

    def _capture(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.captured is not None:
            self.captured.append((statement, parameters))

    async def close(self) -> None:
        await self.write.close()
        await self.engine.dispose()

    async def samples(self, rng: random.Random) -> list[dict]:
        from click2call.db import calls
        out = []
        async with self.engine.connect() as conn:
            for _ in range(SAMPLES):
                at = rng.uniform(self.w.start, self.w.end - 3600)
                row = (await conn.execute(sa.select(calls).where(calls.c.created_at >= at)
                                          .order_by(calls.c.created_at).limit(1))).mappings().first()
                out.append(dict(row))
        return out

    def tenant(self, who):
        from click2call.tenants import Tenant
        if who[0] == "operator":
            return Tenant(None, ())
        t = next(t for t in self.w.tenants if t.name == who[1])
        found = Tenant(t.name, (), extensions=frozenset(t.extensions))
        return replace(found, agent=who[2]) if who[0] == "agent" else found

    async def run(self, kind, *args):
        from click2call import validation
        from click2call.schema.agents import MonitorQuery
        from click2call.schema.cdr import CdrFilters
        if kind == "cdr":
            params, who = args
            return await self.records.cdr_list(validation.parse(CdrFilters, params), self.tenant(who))
        if kind == "live":
            return await self.records.active_calls(self.tenant(args[0]))
        if kind == "monitor":
            who, ext = args
            query = validation.parse(MonitorQuery, {"extension": ext} if ext else {})
            return await self.agents.monitor(self.tenant(who), query)
        if kind == "get":
            key, who = args
            return await self.records.cdr_get(key, self.tenant(who))
        if kind == "survey":
            return await self.survey(*args)
        if kind == "stats":
            from click2call import stats
            from click2call.schema.stats import StatsQuery
            params, who = args
            return await stats.compute(self.engine, self.tenant(who), validation.parse(StatsQuery, params), TZ)
        raise ValueError(kind)

    async def survey(self, exts, caller, days):
        """The inbound survey's look-ups in the database (Asterisk's word on the endpoints is not timed here)."""
        from click2call import inbound_calls
        since = time.time() - days * made.DAY
        if hasattr(inbound_calls, "history"):
            return await inbound_calls.history(self.engine, list(exts), caller, since)
        async with self.engine.connect() as conn:  # the code before issue 17: the two statements as they were
            idle = dict((await conn.execute(inbound_calls._LAST_ENDED, {"exts": list(exts)})).all())
            last = (await conn.execute(inbound_calls._STICKY, {"caller": caller, "exts": list(exts),
                                                               "since": since})).scalar()
        return idle, last

    async def plan(self, make, rng) -> list[dict]:
        """The statements one run sends, each with its plan (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE)."""
        self.captured = []
        try:
            await self.run(*make(rng))
        finally:
            statements, self.captured = self.captured, None
        out = []
        async with self.engine.connect() as conn:
            for statement, params in statements:
                if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                if self.engine.dialect.name == "sqlite":
                    rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)).all()
                    depth = {0: -1}
                    lines = []
                    for node, parent, _, detail in rows:
                        depth[node] = depth.get(parent, -1) + 1
                        lines.append("  " * depth[node] + detail)
                else:
                    rows = (await conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + statement, params)).all()
                    lines = [r[0] for r in rows]
                out.append({"sql": statement, "plan": lines})
        return out


async def measure(url: str, label: str, runs: int, budget: float, only: list[str] | None) -> dict:
    meta = json.loads(Path(_meta_path(url)).read_text())
    w = made.world(meta["seed"], meta["end"])
    runner = Runner(url, w)
    migrated = await runner.open()
    rng = random.Random(1717)
    samples = await runner.samples(rng)
    queries = catalogue(w, samples)
    # The benchmark's own data (the year's world, the samples) is not the service's: out of the garbage collector's
    # reach, or its full passes over it (some 60 ms) land in whichever query is running.
    gc.collect()
    gc.freeze()
    results = []
    try:
        for name, what, make in queries:
            if only and name not in only or not runner.knows(make(rng)[0]):
                continue
            for _ in range(2):  # warm: the first run of a statement compiles it, and reads pages from disk
                await runner.run(*make(rng))
            times, rows = [], []
            spent = time.perf_counter()
            while len(times) < runs and (len(times) < 5 or time.perf_counter() - spent < budget):
                args = make(rng)
                t0 = time.perf_counter()
                answer = await runner.run(*args)
                times.append((time.perf_counter() - t0) * 1000)
                rows.append(len(answer["data"]) if isinstance(answer, dict) and "data" in answer else
                            len(answer) if isinstance(answer, (list, tuple)) else 1)
            plans = await runner.plan(make, rng)
            item = {"name": name, "what": what, "runs": len(times), "p50": percentile(times, 50),
                    "p95": percentile(times, 95), "max": max(times), "rows": statistics.median(rows), "plans": plans}
            results.append(item)
            print(f"{label:7} {name:36} p50 {item['p50']:8.1f} ms  p95 {item['p95']:8.1f} ms  "
                  f"max {item['max']:8.1f} ({len(times)} runs)", flush=True)
    finally:
        await runner.close()
    return {"label": label, "database": "sqlite" if url.startswith("sqlite") else "postgresql",
            "revision": runner.revision, "code": runner.code, "migrated_s": migrated, "tallied": runner.tallied,
            "meta": meta,
            "results": results, "machine": _machine(url)}


def _machine(url: str) -> dict:
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "sqlite": sqlite3.sqlite_version,
            "load": os.getloadavg()}
    try:
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line)
    except (OSError, StopIteration):
        pass
    return info


# ---------------------------------------------------------------- the report

def report(paths: list[Path], out: Path) -> None:
    runs = [json.loads(p.read_text()) for p in paths]
    by = {(r["database"], r["label"]): r for r in runs}
    dbs = [d for d in ("sqlite", "postgresql") if any(k[0] == d for k in by)]
    any_run = runs[0]
    lines = [
        "# Record queries at a million records",
        "",
        "What `python -m bench.records` (`scripts/bench.sh records`) measured: a year of made-up but realistic records "
        "(bench/records_fill.py) in SQLite and in PostgreSQL, every read the API makes of them timed through the "
        "service's own code (`RecordsService.cdr_list`, `cdr_get`, `active_calls`, `AgentsService.monitor`, the "
        "inbound survey's look-ups), each with parameters drawn anew at every run (numbers, ids, extensions, dates, "
        "positions in the year taken from the records). *before*: the code and schema of main before issue 17; "
        "*after*: main with migrations 0012-0017 (indexes, tallies), its tallies counted. Milliseconds, one client, "
        f"on this machine ({any_run['machine'].get('cpu', '?')}, {any_run['machine']['cpus']} cores). "
        "PostgreSQL 15 as tests/pgkit.py starts it, with shared_buffers=1GB, effective_cache_size=8GB, "
        "work_mem=16MB, after VACUUM ANALYZE (what autovacuum keeps); SQLite as the service opens it (WAL), without "
        "ANALYZE (before: no statistics; after: those migrations 0014 and 0017 write). The database files are in "
        "the page cache (the machine has the memory for them): these are the queries' costs, not the disk's. The "
        "benchmark's own data is frozen out of Python's garbage collector (gc.freeze) before it times anything: its "
        "full passes over that data (some 60 ms) are not the service's (the *before* runs of the last report were "
        "timed without it, and a few of their p95 carry such a pass).",
        "",
        "The CDR API has no `direction` filter: a CRM tells the directions apart in the answer (`direction`), and the "
        "phone filter matches the customer's number on either side.",
        "",
    ]
    for db in dbs:
        meta = next(r["meta"] for k, r in by.items() if k[0] == db)
        lines += [f"## {'SQLite' if db == 'sqlite' else 'PostgreSQL'}", "",
                  f"{meta['calls']:,} calls; beside them " + ", ".join(
                      f"{v:,} {k}" for k, v in meta["rows"].items() if k != "calls") +
                  f"; {meta['bytes'] / 2**30:.1f} GiB. Filled in " +
                  f"{sum(meta['took'].values()):.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in meta["took"].items())
                  + ")."]
        after = by.get((db, "after"))
        before = by.get((db, "before"))
        if after:
            lines += ["", f"Migration from the fill's {meta['revision']} to {after['revision']} on the filled "
                          f"database: {after['migrated_s']:.1f} s."]
            if after.get("migrated_from"):  # a later run of the last migrations alone, on the same database
                step = after["migrated_from"]
                lines[-1] += f" (From {step['revision']} alone, in the run measured: {step['s']:.1f} s.)"
            if after.get("tallied"):
                t = after["tallied"]
                lines[-1] += (f" Then what the service counts in the background after its start: the tallies of its "
                              f"{t['days']} ended UTC days (tallies.py) in {t['s']:.1f} s, and the statistics' sums "
                              f"of its {t.get('stat_days', 0)} ended local days (stats.DaySums) in "
                              f"{t.get('stat_s', 0):.1f} s.")
        lines += ["", "| query | before p50 | before p95 | after p50 | after p95 | after max | rows |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        names = [r["name"] for r in (after or before)["results"]]
        b = {r["name"]: r for r in before["results"]} if before else {}
        a = {r["name"]: r for r in after["results"]} if after else {}
        for name in names:
            x, y = b.get(name), a.get(name)
            what = (y or x)["what"]
            cell = (lambda r, k: f"{r[k]:.1f}" if r else "")
            flag = " **over 50**" if y and y["p95"] > 50 else ""
            lines.append(f"| `{name}`: {what} | {cell(x, 'p50')} | {cell(x, 'p95')} | {cell(y, 'p50')} | "
                         f"{cell(y, 'p95')}{flag} | {cell(y, 'max')} | {(y or x)['rows']:g} |")
        lines.append("")
    lines += ["## Reading it", "",
              "Every filter that picks few records out of many (a number on either side, a customer_id, an "
              "extension, a hotline, an agent token's own calls, the calls in progress, the inbound survey) reads "
              "only its own records through an index that gives them newest first, whatever the year holds. A "
              "`total` over many records (the whole year, a tenant's year, every ANSWERED call, with or without "
              "min_duration) is the sum of the tallies of the days it covers (tallies.py: per UTC day, tenant, status "
              "and duration band, counted once a day has ended) plus counts of what they do not cover (the range's "
              "part days, today), exact and independent of the year's size. A page of 500 records is mostly turning "
              "500 records into JSON.",
              "",
              "Statistics (`stats ...`): the dashboard's reads (today by hour; the last 7 days by hour, by day, per "
              "agent, per hotline) and a month per agent read the period's calls from the covering index, a few to "
              "some 25 ms. By day or by tenant over months, the days that have ended come from their sums "
              "(stats.DaySums: per local day of the service's zone, tenant, direction and status), so a year costs "
              "what 365 days' sums and today's calls do. Per agent or per hotline over a whole year still reads the "
              "year's calls (`stats year per agent`: a tenant's 200,000, 86-182 ms at p50): a report asked now and "
              "then, over the goal; per-agent day sums would bring it down, and are left until a console or CRM "
              "needs a year per agent often.", ""]
    lines += ["## Plans (after)", "",
              "Each statement one run of the query sent, with its plan: SQLite's EXPLAIN QUERY PLAN, PostgreSQL's "
              "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF).", ""]
    for db in dbs:
        r = by.get((db, "after")) or by.get((db, "before"))
        lines += [f"### {db} ({r['label']})", ""]
        for item in r["results"]:
            lines += [f"#### `{item['name']}`", ""]
            for p in item["plans"]:
                lines += ["```sql", p["sql"].strip(), "```", "```", *p["plan"], "```", ""]
    out.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- all of it

def _before_tree(rev: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "click2call"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_all(args) -> None:
    from tests.pgkit import Postgres
    work = Path(args.work or tempfile.mkdtemp(prefix="c2c-records-"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    before = _before_tree(args.before, work / "before") if args.before else None
    pg = None
    urls: dict[str, str] = {}
    try:
        if "sqlite" in args.databases:
            path = work / "calls.db"
            path.unlink(missing_ok=True)
            urls["sqlite"] = f"sqlite:///{path}"
        if "postgresql" in args.databases:
            pg = Postgres().start({"shared_buffers": "1GB", "effective_cache_size": "8GB", "work_mem": "16MB"})
            urls["postgresql"] = pg.new_database()
        for db, url in urls.items():
            print(f"filling {db} with {args.calls:,} calls ...", flush=True)
            meta = fill(url, args.calls, args.per_call, args.seed, args.revision)
            print(json.dumps(meta["took"]), flush=True)
            for label, path in (("before", before), ("after", None)):
                if label == "before" and before is None:
                    continue
                # The package measured is the first on the path: the revision's tree before this one's (and the
                # working directory, first of all, is not this tree).
                env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                    [str(path)] * (path is not None) + [str(REPO)])}
                subprocess.run([sys.executable, "-m", "bench.records", "measure", "--url", url, "--label", label,
                                "--runs", str(args.runs), "--budget", str(args.budget),
                                "--out", str((out / f"{db}-{label}.json").resolve())],
                               check=True, env=env, cwd=work)
        report(sorted(out.glob("*-*.json")), out / "RECORDS.md")
        print(f"report: {out / 'RECORDS.md'}")
    finally:
        if pg is not None:
            pg.stop()
            Path(_meta_path(urls.get("postgresql", "postgresql://x/none"))).unlink(missing_ok=True)
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fill")
    f.add_argument("--url", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--url", required=True)
    m.add_argument("--label", default="after")
    m.add_argument("--out", required=True)
    m.add_argument("--only", nargs="*")
    r = sub.add_parser("report")
    r.add_argument("--out", default=str(REPO / "bench" / "RECORDS.md"))
    r.add_argument("results", nargs="+")
    a = sub.add_parser("all")
    a.add_argument("--out", default=str(REPO / "bench" / "out" / "records"))
    a.add_argument("--work", help="where the databases go (kept); default a temporary directory, removed")
    a.add_argument("--databases", default="sqlite,postgresql")
    a.add_argument("--before", default="641bc64", help="git revision whose code is measured first: main before issue 17 ('' skips it)")
    for p in (f, a):
        p.add_argument("--calls", type=int, default=1_000_000)
        p.add_argument("--per-call", type=int, default=6, help="webhook events (a delivery each) per call")
        p.add_argument("--seed", type=int, default=17)
        p.add_argument("--revision", default="0010", help="the schema the fill is made at")
    for p in (m, a):
        p.add_argument("--runs", type=int, default=40)
        p.add_argument("--budget", type=float, default=20.0, help="seconds per query at most (after 5 runs)")
    args = parser.parse_args()
    if args.cmd == "fill":
        print(json.dumps(fill(args.url, args.calls, args.per_call, args.seed, args.revision), indent=1))
    elif args.cmd == "measure":
        result = asyncio.run(measure(args.url, args.label, args.runs, args.budget, args.only))
        Path(args.out).write_text(json.dumps(result, indent=1))
    elif args.cmd == "report":
        report([Path(p) for p in args.results], Path(args.out))
    else:
        args.databases = args.databases.split(",")
        run_all(args)


if __name__ == "__main__":
    main()
