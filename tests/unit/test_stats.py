"""Call statistics (GET /v1/stats) on a real SQLite file and a real PostgreSQL: the figures of generated records (both
directions, every status, three tenants, times across day boundaries of the zone, a DST zone's two changes) equal
counts made here, in Python, straight from the records the test wrote; a tenant and an agent token see only their
own; bad input is refused in the fail shape, through the service's real route."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from click2call import stats, validation
from click2call.config import Settings
from click2call.db import GroupCommit, calls, stat_tallies
from click2call.errors import ApiError
from click2call.http.app import api_error, http_error, internal_error
from click2call.http.routes import routes
from click2call.schema.stats import StatsQuery
from click2call.tenants import Tenant, hash_token

SAIGON, BERLIN = ZoneInfo("Asia/Ho_Chi_Minh"), ZoneInfo("Europe/Berlin")
OPERATOR, ACME, BETA = Tenant(None, ()), Tenant("acme", ()), Tenant("beta", ())
AGENT_101 = Tenant("acme", (), agent="101")
EXTENSIONS = {"acme": ["101", "102", "103"], "beta": ["201", "202"], None: ["900"]}
HOTLINES = ["02873000001", "02873000002", "19001234"]
GROUPS = {"acme": ["acme-sales", "acme-care"], "beta": ["beta-all"], None: ["ops"]}
FINAL = ["ANSWERED", "ANSWERED", "ANSWERED", "NO_ANSWER", "BUSY", "FAILED", "CANCELLED"]


def generate(seed: int, start: float, end: float, n: int = 400) -> list[dict]:
    """Records as the service writes them, started between a few hours before `start` and after `end` (outside the
    period too), a few exactly on the period's edges."""
    rnd = random.Random(seed)
    rows = []
    edges = [start, end, start + 86400, start + 3600]
    for i in range(n):
        created = edges[i] if i < len(edges) else round(rnd.uniform(start - 6 * 3600, end + 6 * 3600), 3)
        tenant = rnd.choice(["acme", "acme", "beta", None])
        direction = rnd.choice(["inbound", "outbound"])
        status = "IN_PROGRESS" if rnd.random() < 0.08 else rnd.choice(FINAL)
        talking = status == "ANSWERED" or (status == "IN_PROGRESS" and rnd.random() < 0.5)
        ext = rnd.choice(EXTENSIONS[tenant])
        row = dict(call_id=str(uuid.UUID(int=rnd.getrandbits(128))), direction=direction, phone="0899098899",
                   hotline=rnd.choice(HOTLINES), trunk="trunk-a", status=status, phase="ended", phase_rank=9,
                   created_at=created, updated_at=created, tenant=tenant, extension=ext, ring_group=None,
                   customer_created_at=None, answered_at=None, ended_at=None, duration=None, billsec=None)
        if direction == "outbound":
            if status not in ("BUSY", "FAILED") or rnd.random() < 0.5:  # the agent answered: the customer is dialled
                row["customer_created_at"] = created + round(rnd.uniform(1, 15), 3)
        else:
            row.update(customer_created_at=created, ring_group=rnd.choice([*GROUPS[tenant], None]))
            if not talking:
                row["extension"] = ""  # nobody answered
        if talking:
            row["answered_at"] = (row["customer_created_at"] or created) + round(rnd.uniform(0.5, 40), 3)
        if status != "IN_PROGRESS":
            ended = (row["answered_at"] or created) + round(rnd.uniform(1, 600), 3)
            row.update(ended_at=ended, duration=round(ended - created),
                       billsec=round(ended - row["answered_at"]) if row["answered_at"] else 0)
        rows.append(row)
    return rows


async def insert(engine, rows: list[dict]) -> None:
    async with engine.begin() as conn:
        await conn.execute(calls.insert(), rows)


def query(**params) -> StatsQuery:
    return validation.parse(StatsQuery, {k.rstrip("_"): str(v) for k, v in params.items()})


def local(t: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, tz)


def expected_figures(rows: list[dict]) -> dict:
    """The figures, counted on the records themselves."""
    ended = [r for r in rows if r["status"] != "IN_PROGRESS"]
    answered = [r for r in rows if r["status"] == "ANSWERED"]
    waits = [r["answered_at"] - (r["customer_created_at"] if r["direction"] == "outbound" else r["created_at"])
             for r in answered]
    talk = sum(r["billsec"] for r in answered)
    return {
        "calls": len(rows),
        **{name.lower(): sum(r["status"] == name for r in rows)
           for name in ("IN_PROGRESS", "ANSWERED", "NO_ANSWER", "BUSY", "FAILED", "CANCELLED")},
        "inbound": sum(r["direction"] == "inbound" for r in rows),
        "outbound": sum(r["direction"] == "outbound" for r in rows),
        "missed_inbound": sum(r["direction"] == "inbound" and r["status"] != "ANSWERED" for r in ended),
        "answer_rate": len(answered) / len(ended) if ended else None,
        "wait_total": sum(waits), "wait_avg": sum(waits) / len(waits) if waits else None,
        "talk_total": talk, "talk_avg": talk / len(answered) if answered else None,
    }


def every_local_period(start: float, end: float, tz: ZoneInfo, fmt: str) -> list[str]:
    """The local hours or days the period touches, found by walking it minute by minute."""
    seen = {}
    t = start
    while t < end:
        seen[local(t, tz).strftime(fmt)] = True
        t += 60
    return list(seen)


def expected(rows, tz, start, end, group_by, who=OPERATOR, **filters) -> dict[str, dict]:
    fmt = {"hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d"}.get(group_by)
    chosen = [r for r in rows if start <= r["created_at"] < end
              and (who.is_operator or r["tenant"] == who.name) and (who.agent is None or r["extension"] == who.agent)
              and all(r[k] == v for k, v in filters.items())]
    groups = defaultdict(list)
    for r in chosen:
        groups[local(r["created_at"], tz).strftime(fmt) if fmt else (r[group_by] or "")].append(r)
    keys = every_local_period(start, end, tz, fmt) if fmt else sorted(groups)
    return {k: expected_figures(groups.get(k, [])) for k in keys}


def assert_same(got: dict, want: dict) -> None:
    for name, value in want.items():
        if isinstance(value, float) or name.endswith(("_avg", "_rate")):
            assert got[name] == (None if value is None else pytest.approx(value, abs=0.051 if "rate" not in name
                                                                           else 0.00005)), name
        else:
            assert got[name] == value, name


def assert_answer(answer: dict, want: dict[str, dict]) -> None:
    assert [g["key"] for g in answer["data"]] == list(want)
    for group in answer["data"]:
        assert_same(group, want[group["key"]])
    everything = [f for f in want.values()]
    assert answer["total"]["calls"] == sum(f["calls"] for f in everything)
    assert answer["total"]["talk_total"] == sum(f["talk_total"] for f in everything)
    assert answer["total"]["answered"] == sum(f["answered"] for f in everything)


def day_start(text: str, tz: ZoneInfo) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


@pytest.mark.parametrize("seed", [1, 2])
async def test_every_grouping_equals_counts_made_on_the_records(engine, seed):
    start, end = day_start("2026-11-28", SAIGON), day_start("2026-12-01", SAIGON)  # three local days
    rows = generate(seed, start, end)
    await insert(engine, rows)
    for group_by in ("hour", "day", "hotline", "extension", "tenant"):
        answer = await stats.compute(engine, OPERATOR, query(from_="2026-11-28", to="2026-11-30",
                                                             group_by=group_by), SAIGON)
        assert (answer["status"], answer["from"], answer["to"], answer["timezone"]) == (
            "success", "2026-11-28 00:00:00", "2026-12-01 00:00:00", "Asia/Ho_Chi_Minh")
        want = expected(rows, SAIGON, start, end, group_by)
        assert_answer(answer, want)
        assert len(answer["data"]) == {"hour": 72, "day": 3}.get(group_by, len(want))
        assert_same(answer["total"], expected_figures([r for r in rows if start <= r["created_at"] < end]))


async def test_a_tenant_and_an_agent_token_count_only_their_own_calls(engine):
    start, end = day_start("2026-11-28", SAIGON), day_start("2026-11-30", SAIGON)
    rows = generate(3, start, end)
    await insert(engine, rows)
    period = dict(from_="2026-11-28", to="2026-11-29")
    for who in (ACME, BETA, AGENT_101):
        for group_by in ("day", "extension"):
            answer = await stats.compute(engine, who, query(**period, group_by=group_by), SAIGON)
            assert_answer(answer, expected(rows, SAIGON, start, end, group_by, who))
    acme_keys = [g["key"] for g in (await stats.compute(engine, ACME, query(**period, group_by="extension"),
                                                        SAIGON))["data"]]
    assert set(acme_keys) <= {"", *EXTENSIONS["acme"]} and "201" not in acme_keys
    mine = await stats.compute(engine, AGENT_101, query(**period, group_by="hotline"), SAIGON)
    assert mine["total"]["calls"] == sum(1 for r in rows if start <= r["created_at"] < end
                                         and r["tenant"] == "acme" and r["extension"] == "101") > 0
    # the filters, alone and together
    filters = [dict(direction="inbound"), dict(hotline=HOTLINES[0]), dict(extension="102"),
               dict(ring_group="acme-sales"), dict(direction="outbound", hotline=HOTLINES[1], extension="101")]
    for given in filters:
        answer = await stats.compute(engine, ACME, query(**period, group_by="day", **given), SAIGON)
        assert_answer(answer, expected(rows, SAIGON, start, end, "day", ACME, **given))
    with pytest.raises(ApiError) as refused:
        await stats.compute(engine, AGENT_101, query(**period, extension="102"), SAIGON)
    assert refused.value.code == "AGENT_EXTENSION_ONLY"
    with pytest.raises(ApiError) as refused:
        await stats.compute(engine, ACME, query(**period, group_by="tenant"), SAIGON)
    assert refused.value.code == "FORBIDDEN"


@pytest.mark.parametrize("days", [("2026-03-28", "2026-03-30"), ("2026-10-24", "2026-10-26")],
                         ids=["spring-forward", "fall-back"])
async def test_hours_and_days_follow_a_zone_with_daylight_saving_time(engine, days):
    first, last = days
    start, end = day_start(first, BERLIN), day_start(last, BERLIN) + 86400
    start_of_last = day_start(last, BERLIN)
    assert end - start_of_last == 86400 and (end - start) != 3 * 86400  # a day of 23 or 25 hours in the middle
    rows = generate(4, start, end, n=600)
    await insert(engine, rows)
    for group_by in ("hour", "day"):
        answer = await stats.compute(engine, OPERATOR, query(from_=first, to=last, group_by=group_by), BERLIN)
        assert_answer(answer, expected(rows, BERLIN, start, end, group_by))
    hours = [g["key"] for g in (await stats.compute(engine, OPERATOR, query(from_=first, to=last, group_by="hour"),
                                                    BERLIN))["data"]]
    spring = first.startswith("2026-03")
    # 71 real hours in spring: the skipped local hour is not listed; 73 in autumn: the repeated local hour is one
    assert len(hours) == len(set(hours)) == (71 if spring else 72)
    middle = datetime.fromisoformat(first) + timedelta(days=1)
    assert (middle.strftime("%Y-%m-%d 02:00:00") in hours) is not spring


def test_a_zone_s_offsets_over_a_range_change_at_its_transitions():
    start, end = day_start("2026-01-01", BERLIN), day_start("2027-01-01", BERLIN)
    spring, autumn = datetime(2026, 3, 29, 1, tzinfo=ZoneInfo("UTC")), datetime(2026, 10, 25, 1, tzinfo=ZoneInfo("UTC"))
    assert stats.offsets(BERLIN, start, end) == ((int(start), 3600), (int(spring.timestamp()), 7200),
                                                 (int(autumn.timestamp()), 3600))
    assert stats.offsets(SAIGON, start, end) == ((int(start), 7 * 3600),)  # no DST: one offset all year


TENANTS = f"""
[[tenant]]
name = "acme"
tokens = ["{hash_token("acme-token-0123456789ab")}"]
extensions = ["101", "102", "103"]
hotlines = ["02873000001"]
  [[tenant.token]]
  id = "agent-101"
  token = "{hash_token("acme-agent-101-0123456789")}"
  extension = "101"
"""
OPERATOR_TOKEN = "operator-token-0123456789"


@pytest.fixture
async def api(engine, tmp_path):
    (tmp_path / "tenants.toml").write_text(TENANTS)
    settings = Settings.from_env({"C2C_API_TOKENS": OPERATOR_TOKEN, "C2C_HOTLINES": "02873000001=trunk-a",
                                  "C2C_TENANTS_FILE": str(tmp_path / "tenants.toml"),
                                  "C2C_TIMEZONE": "Asia/Ho_Chi_Minh"})
    app = Starlette(routes=routes,
                    exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: internal_error})
    app.state.directory = settings.directory()
    app.state.engine = engine
    app.state.settings = settings
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://click2call.test") as client:
        yield client


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_the_route_answers_the_figures_and_refuses_bad_input_in_the_fail_shape(api, engine):
    start, end = day_start("2026-11-29", SAIGON), day_start("2026-11-30", SAIGON)
    rows = generate(5, start, end, n=120)
    await insert(engine, rows)
    ok = await api.get("/v1/stats", params={"from": "2026-11-29", "to": "2026-11-29", "group_by": "hour"},
                       headers=bearer("acme-token-0123456789ab"))
    assert ok.status_code == 200, ok.text
    assert_answer(ok.json(), expected(rows, SAIGON, start, end, "hour", ACME))
    agent = await api.get("/v1/stats", params={"from": "2026-11-29 00:00:00", "to": "2026-11-30 00:00:00",
                                               "group_by": "extension"}, headers=bearer("acme-agent-101-0123456789"))
    assert agent.status_code == 200, agent.text
    assert_answer(agent.json(), expected(rows, SAIGON, start, end, "extension", AGENT_101))
    assert [g["key"] for g in agent.json()["data"]] == ["101"]

    refusals = [
        (OPERATOR_TOKEN, {"from": "2026-11-30", "to": "2026-11-29"}, 400, "INVALID_PARAMETER", "before"),
        (OPERATOR_TOKEN, {"from": "2026-11-29 10:00:00", "to": "2026-11-29 10:00:00"}, 400, "INVALID_PARAMETER",
         "before"),
        (OPERATOR_TOKEN, {"from": "2025-01-01", "to": "2026-01-02"}, 400, "INVALID_PARAMETER", "366 days"),
        (OPERATOR_TOKEN, {"from": "2026-01-01", "to": "2026-02-01", "group_by": "hour"}, 400, "INVALID_PARAMETER",
         "31 days"),
        (OPERATOR_TOKEN, {"from": "9999-12-31", "to": "9999-12-31"}, 400, "INVALID_PARAMETER", "years"),
        (OPERATOR_TOKEN, {"from": "0001-01-01", "to": "0001-01-02"}, 400, "INVALID_PARAMETER", "years"),
        (OPERATOR_TOKEN, {"to": "2026-11-29"}, 400, "MISSING_PARAMETER", "from"),
        (OPERATOR_TOKEN, {"from": "2026-11-29"}, 400, "MISSING_PARAMETER", "to"),
        (OPERATOR_TOKEN, {"from": "29/11/2026", "to": "2026-11-29"}, 400, "INVALID_PARAMETER", "from must be"),
        (OPERATOR_TOKEN, {"from": "2026-11-29", "to": "2026-11-29", "group_by": "week"}, 400, "INVALID_PARAMETER",
         "group_by"),
        (OPERATOR_TOKEN, {"from": "2026-11-29", "to": "2026-11-29", "direction": "sideways"}, 400,
         "INVALID_PARAMETER", "direction"),
        (OPERATOR_TOKEN, {"from": "2026-11-29", "to": "2026-11-29", "extension": "1;2"}, 400,
         "INVALID_PARAMETER", "extension"),
        ("acme-token-0123456789ab", {"from": "2026-11-29", "to": "2026-11-29", "group_by": "tenant"}, 403,
         "FORBIDDEN", "operator"),
        ("acme-agent-101-0123456789", {"from": "2026-11-29", "to": "2026-11-29", "extension": "102"}, 403,
         "AGENT_EXTENSION_ONLY", "101"),
        ("wrong-token-0123456789ab", {"from": "2026-11-29", "to": "2026-11-29"}, 401, "UNAUTHORIZED", ""),
    ]
    for token, params, status, code, words in refusals:
        r = await api.get("/v1/stats", params=params, headers=bearer(token))
        assert (r.status_code, r.json().get("error")) == (status, code), (params, r.text)
        assert set(r.json()) == {"status", "error", "message"} and r.json()["status"] == "fail"
        assert words in r.json()["message"], r.text
    # a whole leap year is one range; its days are all there
    year = await api.get("/v1/stats", params={"from": "2028-01-01", "to": "2028-12-31"}, headers=bearer(OPERATOR_TOKEN))
    assert year.status_code == 200 and len(year.json()["data"]) == 366 and year.json()["total"]["calls"] == 0


@pytest.mark.parametrize("who", [OPERATOR, ACME], ids=["operator", "tenant"])
async def test_the_query_reads_calls_through_an_index_on_created_at(engine, who):
    """Index-friendly: the period is a range on an indexed created_at (alone, or after the tenant), not a scan of
    every record; on SQLite the operator's figures are read from the covering index alone (0012). Planned on a table
    of a few thousand records over a month, asked for one day."""
    start = day_start("2026-11-01", SAIGON)
    await insert(engine, generate(6, start, start + 30 * 86400, n=3000))
    statement = stats.plan(who, query(from_="2026-11-28", to="2026-11-28", group_by="hour"), SAIGON,
                           engine.dialect.name).statement
    sql = str(statement.compile(engine.sync_engine, compile_kwargs={"literal_binds": True}))
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(sa.text("ANALYZE calls"))
            text = " ".join(r[0] for r in await conn.exec_driver_sql("EXPLAIN " + sql))
        else:
            await conn.exec_driver_sql("ANALYZE")
            text = " ".join(str(r[-1]) for r in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    indexes = ("ix_calls_stats", "ix_calls_created_at", "ix_calls_tenant_created")  # 0014 renamed the tenant's
    assert any(f"INDEX {name} (created_at>? AND created_at<?)" in text or f"{name} (tenant=? AND created_at>?" in text
               or f"Index Scan on {name}" in text or f"Index Only Scan using {name}" in text
               or f"Index Scan using {name}" in text for name in indexes), text
    if engine.dialect.name == "sqlite" and who.is_operator:
        assert "COVERING INDEX ix_calls_stats" in text, text


ZONES = [SAIGON, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Lord_Howe")]


def test_any_records_in_any_zone_are_counted_as_python_counts_them(tmp_path):
    """Hypothesis: records at any moment of a few days around a zone's DST change (Lord Howe's is half an hour,
    Kolkata's offset is not whole hours), any status and direction: every grouping equals the count made here.
    On a SQLite file (the same SQL runs on PostgreSQL in the tests above)."""
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    from click2call.db import open_database

    loop = asyncio.new_event_loop()
    engine = loop.run_until_complete(open_database(f"sqlite:///{tmp_path}/calls.db"))
    record = st.fixed_dictionaries({
        "at": st.floats(-0.2, 1.2), "status": st.sampled_from([*FINAL, "IN_PROGRESS"]),
        "direction": st.sampled_from(["inbound", "outbound"]), "tenant": st.sampled_from(["acme", "beta", None]),
        "ext": st.sampled_from(["101", "102", ""]), "wait": st.floats(0, 60), "billsec": st.integers(0, 900)})

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @example(ZONES[-1], "2026-10-02", "hour", [])  # Lord Howe skips half an hour: that hour is still listed
    @example(BERLIN, "2026-03-27", "hour", [])  # Berlin skips a whole hour: it is not
    @example(BERLIN, "2026-10-23", "hour", [])  # nor listed twice when it is lived twice
    @given(st.sampled_from(ZONES), st.sampled_from(["2026-03-27", "2026-04-03", "2026-10-02", "2026-10-23",
                                                    "2026-11-29"]),
           st.sampled_from(["hour", "day", "extension", "tenant"]), st.lists(record, max_size=40))
    def check(tz, first, group_by, drawn):
        last, after = ((datetime.fromisoformat(first) + timedelta(days=n)).strftime("%Y-%m-%d") for n in (2, 3))
        start, end = day_start(first, tz), day_start(after, tz)
        rows = []
        for i, d in enumerate(drawn):
            created = round(start + d["at"] * (end - start), 3)
            answered = created + d["wait"] if d["status"] == "ANSWERED" else None
            rows.append(dict(call_id=f"c{i}", direction=d["direction"], extension=d["ext"], phone="1", hotline="2",
                             trunk="t", status=d["status"], phase="ended", phase_rank=9, created_at=created,
                             updated_at=created, tenant=d["tenant"], customer_created_at=created, answered_at=answered,
                             billsec=d["billsec"] if answered else 0, ring_group=None))

        async def run():
            async with engine.begin() as conn:
                await conn.execute(calls.delete())
                if rows:
                    await conn.execute(calls.insert(), rows)
            return await stats.compute(engine, OPERATOR, query(from_=first, to=last, group_by=group_by), tz)

        assert_answer(loop.run_until_complete(run()), expected(rows, tz, start, end, group_by))

    try:
        check()
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()


@pytest.mark.parametrize("zone", ["Asia/Ho_Chi_Minh", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago"])
async def test_days_summed_in_the_background_give_the_same_figures(engine, zone):
    """Local days summed once they ended (stat_tallies) stand for their records: figures by day and by tenant, over
    whole days and part days, with a filter and for a tenant, equal counts made on the records; a day with a call in
    progress is read from the records. Zones with a DST change in the range, a half-hour one (Lord Howe) and one
    that changes at midnight (Santiago: its days are read from the records)."""
    tz = ZoneInfo(zone)
    start, end = day_start("2026-03-25", tz), day_start("2026-04-10", tz)
    rows = generate(11, start, end, n=900)
    for r in rows:
        if r["status"] == "IN_PROGRESS" and r["created_at"] < start + 10 * 86400:
            r["status"] = "CANCELLED"  # calls in progress only in the last days: the others can be summed
    await insert(engine, rows)
    write = GroupCommit(engine)
    try:
        summed = await stats.DaySums(engine, write, tz).count_days(now=end + 3 * 86400)
    finally:
        await write.close()
    assert summed >= 9
    asks = [(dict(from_="2026-03-25", to="2026-04-09"), {}), (dict(from_="2026-03-26 13:30:00",
                                                                   to="2026-04-08 07:00:00"), {}),
            (dict(from_="2026-03-27", to="2026-04-05", direction="inbound"), dict(direction="inbound"))]
    for ask, filters in asks:
        lo = day_start(ask["from_"], tz)
        hi = day_start(ask["to"], tz) + (86400 if len(ask["to"]) == 10 else 0)
        if len(ask["to"]) == 10:
            hi = datetime.combine(datetime.fromisoformat(ask["to"]).date() + timedelta(days=1), datetime.min.time(),
                                  tz).timestamp()
        for who in (OPERATOR, ACME):
            for group_by in ("day", "tenant") if who is OPERATOR else ("day",):
                answer = await stats.compute(engine, who, query(**ask, group_by=group_by), tz)
                assert_answer(answer, expected(rows, tz, lo, hi, group_by, who, **filters))
    # ... and read from the sums indeed (where the zone's midnights are plain): the figures follow them
    async with engine.begin() as conn:
        await conn.execute(stat_tallies.update().values(calls=stat_tallies.c.calls + 1000))
    answer = await stats.compute(engine, OPERATOR, query(from_="2026-03-25", to="2026-04-09"), tz)
    assert (answer["total"]["calls"] > len(rows)) is (zone != "America/Santiago")
