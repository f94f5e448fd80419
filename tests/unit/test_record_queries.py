"""The record queries' shapes (issue 17), on a real SQLite file and a real PostgreSQL: the phone filter read as two
indexed branches answers exactly what the OR over both columns answered (rows, order, total, both paging modes), and
the hot filters' plans use their indexes (SQLite with the statistics migration 0014 writes; PostgreSQL with its own
after ANALYZE, and sequential scans off, as a table this small may be read whole otherwise)."""

from __future__ import annotations

import asyncio
import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import records_fill
from click2call import cdr, inbound_calls, validation
from click2call.agent_store import AgentStore
from click2call.agents import AgentsService
from click2call.db import GroupCommit, calls, metadata, open_database
from click2call.records import CallStore
from click2call.schema.agents import MonitorQuery
from click2call.schema.cdr import CdrFilters
from click2call.service import RecordsService
from click2call.tenants import Tenant

from .helpers import UTC

NUMBERS = ["0901000001", "0901000002", "02873000001", "19006868"]  # on either side, both sides of one call too
EXTS = ["101", "102"]
STATUSES = ["ANSWERED", "BUSY", "NO_ANSWER"]

records = st.lists(st.tuples(st.sampled_from(NUMBERS), st.sampled_from(NUMBERS), st.integers(0, 6),
                             st.sampled_from(EXTS), st.sampled_from(STATUSES)), max_size=30)
queries = st.fixed_dictionaries(
    {"phone": st.sampled_from(NUMBERS), "limit": st.integers(1, 7).map(str)},
    optional={"extension": st.sampled_from(EXTS), "status": st.sampled_from(STATUSES),
              "page": st.integers(1, 5).map(str)})
cursors = st.one_of(st.none(), st.tuples(st.integers(0, 7).map(float), st.sampled_from(["c00", "c05", "c09", "c20"])))


def _row(i: int, phone: str, hotline: str, at: int, ext: str, status: str) -> dict:
    return dict(call_id=f"c{i:02d}", direction="outbound", extension=ext, phone=phone, hotline=hotline, trunk="t",
                status=status, phase="ended", phase_rank=5, created_at=1_000_000.0 + at, updated_at=0.0)


def _expected(rows: list[dict], params: dict, after) -> tuple[list[str], int | None]:
    """The OR's answer, worked out by hand: newest first (call_id breaks ties), a page or after a cursor."""
    phone = params["phone"]
    found = [r for r in rows if phone in (r["phone"], r["hotline"])
             and r["extension"] == params.get("extension", r["extension"])
             and r["status"] == params.get("status", r["status"])]
    found.sort(key=lambda r: (r["created_at"], r["call_id"]), reverse=True)
    limit = int(params["limit"])
    if "page" in params:
        start = (int(params["page"]) - 1) * limit
        return [r["call_id"] for r in found[start:start + limit]], len(found)
    if after is not None:
        found = [r for r in found if (r["created_at"], r["call_id"]) < (1_000_000.0 + after[0], after[1])]
    return [r["call_id"] for r in found[:limit]], None


def test_phone_on_either_side_answers_as_the_or_did(db_url):
    """Generated calls whose numbers collide (a number as the customer's and as the hotline, both in one call, many
    calls at one instant) and generated queries: the branches' answer is the OR's, row for row, total for total."""
    loop = asyncio.new_event_loop()
    engine = loop.run_until_complete(open_database(db_url))
    store = CallStore(engine)

    async def check(made, params, after):
        async with engine.begin() as conn:
            await conn.execute(calls.delete())
            if made:
                await conn.execute(calls.insert(), [_row(i, *m) for i, m in enumerate(made)])
        query = cdr.parse_query(params, UTC)
        cursor = (1_000_000.0 + after[0], after[1]) if after and query.page is None else None
        new = await store.search(query.common, query.limit, page=query.page, after=cursor, either=query.either)
        old = await store.search(query.where, query.limit, page=query.page, after=cursor)  # one WHERE with the OR
        expected = _expected([_row(i, *m) for i, m in enumerate(made)], params, after if query.page is None else None)
        assert ([r["call_id"] for r in new[0]], new[1]) == expected
        assert ([r["call_id"] for r in old[0]], old[1]) == expected

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(records, queries, cursors)
    def run(made, params, after):
        loop.run_until_complete(check(made, params, after))

    try:
        run()
    finally:
        loop.run_until_complete(store.engine.dispose())
        loop.close()


# ---- plans

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
WORLD = records_fill.world(17, end=1_790_000_000.0)


@pytest.fixture
async def filled(engine):
    """20,000 calls of the benchmark's made-up year (bench/records_fill.py), and the presence of its agents."""
    columns = [c.name for c in calls.columns]
    rows = [dict(zip(columns, r)) for r in records_fill.calls(WORLD, 20_000, columns)]
    live = [(r["call_id"], r["extension"], r["phone"], r["direction"], r["created_at"]) for r in rows
            if r["status"] == "IN_PROGRESS"]
    async with engine.begin() as conn:
        await conn.execute(calls.insert(), rows)
        await conn.execute(metadata.tables["agent_presence"].insert(),
                           records_fill.presence_rows(WORLD, live, WORLD.end))
        if engine.dialect.name == "postgresql":
            await conn.execute(sa.text("ANALYZE"))
    return engine, rows


class Plans:
    """Runs a read as the API does, and explains every statement it sent."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.sent: list | None = None
        sa.event.listen(engine.sync_engine, "before_cursor_execute", self._capture)

    def _capture(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.sent is not None and statement.lstrip().startswith("SELECT"):
            self.sent.append((statement, parameters))

    async def of(self, read) -> str:
        self.sent = []
        try:
            await read
        finally:
            sent, self.sent = self.sent, None
        lines = []
        async with self.engine.connect() as conn:
            sqlite = self.engine.dialect.name == "sqlite"
            if not sqlite:
                await conn.exec_driver_sql("SET enable_seqscan = off")
            for statement, parameters in sent:
                explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
                found = (await conn.exec_driver_sql(explain + statement, parameters)).all()
                lines += [f"{row[-1]}" for row in found] + ["--"]
            if not sqlite:
                await conn.exec_driver_sql("RESET enable_seqscan")
        return "\n".join(lines)


def _no_whole_table(plan: str) -> None:
    assert not re.search(r"^SCAN calls$|Seq Scan on calls", plan, re.M), plan


async def test_the_hot_filters_read_their_indexes(filled):
    engine, rows = filled
    store = CallStore(engine, write=GroupCommit(engine))
    service = RecordsService(TZ, store, replica=None)
    plans = Plans(engine)
    operator = Tenant(None, ())
    tenant = WORLD.tenants[0]
    of_tenant = Tenant(tenant.name, (), extensions=frozenset(tenant.extensions))
    call = next(r for r in reversed(rows) if r["customer_id"] and r["tenant"] == tenant.name
                and r["status"] != "IN_PROGRESS")

    def cdr_list(params: dict, who: Tenant = operator):
        return service.cdr_list(validation.parse(CdrFilters, params), who)

    expected = {
        # a customer's number: its calls from the phone index, the hotline side from the hotline index, and the total
        ("phone", "page"): ({"phone": call["phone"], "page": "1"}, ["ix_calls_phone_created", "ix_calls_hotline_created"]),
        ("phone", "scroll"): ({"phone": call["phone"], "scroll_id": cdr.encode_cursor(call)},
                              ["ix_calls_phone_created", "ix_calls_hotline_created"]),
        ("customer_id",): ({"customer_id": call["customer_id"], "page": "1"}, ["ix_calls_customer_created"]),
        ("extension",): ({"extension": call["extension"], "page": "1"}, ["ix_calls_extension_created"]),
        ("extension", "scroll"): ({"extension": call["extension"], "scroll_id": cdr.encode_cursor(call)},
                                  ["ix_calls_extension_created"]),
        # many calls: counted in the status index (it carries duration), or from the duration index
        ("answered, min_duration",): ({"status": "ANSWERED", "min_duration": "30", "page": "1"},
                                      [("ix_calls_status_created", "ix_calls_duration")]),
    }
    for name, (params, indexes) in expected.items():
        plan = await plans.of(cdr_list(params))
        for index in indexes:  # a tuple: one of them
            assert any(i in plan for i in ((index,) if isinstance(index, str) else index)), f"{name}\n{plan}"
        _no_whole_table(plan)

    # a tenant's token by status: its own index, the total counted in it
    plan = await plans.of(cdr_list({"status": "NO_ANSWER", "page": "1"}, of_tenant))
    assert "ix_calls_tenant_status" in plan, plan
    _no_whole_table(plan)

    # the calls in progress, the monitor: the few live rows, not a tenant's year
    for read in (service.active_calls(operator), service.active_calls(of_tenant),
                 AgentsService(AgentStore(engine, store._write, lambda e: tenant.name), TZ, frozenset()).monitor(
                     of_tenant, MonitorQuery())):
        plan = await plans.of(read)
        assert "ix_calls_live" in plan or "ix_calls_tenant_status" in plan, plan
        _no_whole_table(plan)

    # an inbound ring: each agent's last call end, the caller's sticky agent
    group = tenant.groups[0][1]
    plan = await plans.of(inbound_calls.history(engine, list(group), call["phone"], WORLD.end - 7 * 86400))
    assert plan.count("ix_calls_extension_ended") >= len(group) and "ix_calls_phone_created" in plan, plan
    _no_whole_table(plan)
    await store._write.close()
