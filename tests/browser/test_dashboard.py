"""The dashboard in Chromium against the real service: its figures (read back from the page, where every number the
charts draw is also written) are the counts of the calls the test wrote into the service's database (today's by
hour, the last 7 days' by day, per agent), a tenant's figures count its own calls only, the charts are drawn under
the strict CSP, accessibility, both languages. With calls placed through the lab's Asterisk:
test_the_dashboard_counts_the_calls_placed (lab)."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

from tests.browser.conftest import WIDTHS, axe, screenshot, signed_in
from tests.browser.pagekit import (ACME, OPERATOR, SERVICE_ENV, TENANTS, call, day_key, days_ago, figure, hour_key,
                                   insert, today_start)
from tests.lab import conftest as lab_fixtures
from tests.lab.conftest import HOTLINE_B, HOTLINE_BUSY, TOKEN
from tests.lab.helpers import final_record, unique_phone, wait_for
from tests.offline import offline_service


own_service = lab_fixtures.own_service  # services of a test's own, on the lab


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{work}/calls.db"
    with offline_service(work, url, tenants=TENANTS, **SERVICE_ENV) as svc:
        yield svc, url


@pytest.fixture(scope="module")
def records(served):
    """Today: acme's outbound answered, unanswered and busy calls, inbound answered and missed ones, one in progress,
    over the hours gone by so far; beta's two. The six days before: a few a day. Eight days ago: one (not counted)."""
    _, url = served
    start, now = today_start(), time.time()
    spread = lambda i, n: start + (now - start) * (i + 1) / (n + 2)  # noqa: E731 (today, before now)
    today = [
        dict(status="ANSWERED", ext="101", talk=30, wait=3), dict(status="ANSWERED", ext="101", talk=40, wait=5),
        dict(status="ANSWERED", ext="102", talk=50, wait=4), dict(status="NO_ANSWER", ext="102"),
        dict(status="BUSY", ext="101"), dict(status="ANSWERED", ext="102", direction="inbound", talk=20, wait=6),
        dict(status="CANCELLED", ext="", direction="inbound"), dict(status="FAILED", ext="", direction="inbound"),
        dict(status="IN_PROGRESS", ext="101"),
    ]
    acme_today = [call(spread(i, len(today)), **kw) for i, kw in enumerate(today)]
    acme_week = [call(days_ago(d, hour=9 + n), status=["ANSWERED", "NO_ANSWER"][n % 2], ext=["101", "104"][n % 2],
                      talk=60) for d in range(1, 7) for n in range(d % 3 + 1)]
    old = [call(days_ago(8), ext="101")]
    beta = [call(spread(i, 2), ext="201", tenant="beta") for i in range(2)]
    insert(url, [*acme_today, *acme_week, *old, *beta])
    return {"today": acme_today, "week": acme_today + acme_week, "beta": beta}


def expected(rows: list[dict]) -> dict:
    """The figures GET /v1/stats defines (README, click2call/stats.py), counted from the records written."""
    ended = [r for r in rows if r["status"] != "IN_PROGRESS"]
    answered = [r for r in ended if r["status"] == "ANSWERED"]
    waits = [r["answered_at"] - (r["created_at"] if r["direction"] == "inbound" else r["customer_created_at"])
             for r in answered]
    return {
        "calls": len(rows), "in_progress": len(rows) - len(ended), "answered": len(answered),
        **{status.lower(): sum(r["status"] == status for r in ended)
           for status in ("NO_ANSWER", "BUSY", "CANCELLED", "FAILED")},
        "missed_inbound": sum(r["direction"] == "inbound" and r["status"] != "ANSWERED" for r in ended),
        "inbound": sum(r["direction"] == "inbound" for r in rows), "outbound": sum(r["direction"] == "outbound" for r in rows),
        "answer_rate": round(len(answered) / len(ended), 4) if ended else None,
        "wait_avg": round(sum(waits) / len(waits), 1) if waits else None,
        "talk_total": sum(r["billsec"] for r in answered),
        "talk_avg": round(sum(r["billsec"] for r in answered) / len(answered), 1) if answered else None,
    }


def agent_of(r: dict) -> str:
    """An outbound call's extension, the agent who answered an inbound one ("" none: the service writes the
    extension of an inbound call when an agent answers)."""
    return r["extension"]


def number(value: str | None):
    return None if value in (None, "") else float(value)


def open_dashboard(page, base: str, token: str, lang: str = "en") -> None:
    signed_in(page, base, token, lang)
    page.locator("[data-test=nav-dashboard]").click()
    page.locator("[data-test=dashboard][data-state=ready]").wait_for()


def test_the_figures_are_the_calls_written(served, records, page):
    svc, _ = served
    open_dashboard(page, svc.base, ACME)
    summary = page.locator("[data-test=summary]")
    for period, rows in (("today", records["today"]), ("week", records["week"])):
        for name, value in expected(rows).items():
            shown = number(figure(summary, f"stat-{name}", period=period))
            assert shown == (None if value is None else pytest.approx(value, abs=0.051)), (period, name)

    hours = page.locator("[data-test=hour-table]")
    by_hour = Counter(hour_key(r["created_at"]) for r in records["today"])
    assert hours.locator("[data-test=hour-row]").count() == 24
    for key in {hour_key(today_start() + 3600 * h) for h in range(24)}:
        row = hours.locator(f"[data-test=hour-row][data-key='{key}']")
        assert figure(row, "stat-calls") == str(by_hour.get(key, 0)), key
    by_day = Counter(day_key(r["created_at"]) for r in records["week"])
    days = page.locator("[data-test=day-table] [data-test=day-row]")
    assert days.evaluate_all("rows => rows.map(r => r.dataset.key)") == [day_key(days_ago(d)) for d in range(6, -1, -1)]
    for key, n in by_day.items():
        row = page.locator(f"[data-test=day-row][data-key='{key}']")
        assert figure(row, "stat-calls") == str(n)
        answered = sum(r["status"] == "ANSWERED" for r in records["week"] if day_key(r["created_at"]) == key)
        assert figure(row, "stat-answered") == str(answered)

    def agents(rows):
        return {ext: (sum(agent_of(r) == ext for r in rows),
                      sum(r["billsec"] for r in rows if agent_of(r) == ext and r["status"] == "ANSWERED"))
                for ext in {agent_of(r) for r in rows}}

    for period in ("today", "week"):
        page.locator("[data-test=agent-period]").select_option(period)
        page.locator("[data-test=dashboard][data-state=ready]").wait_for()
        table = page.locator("[data-test=agent-table]")
        want = agents(records[period])
        assert set(table.locator("[data-test=agent-row]").evaluate_all("rows => rows.map(r => r.dataset.ext)")) \
            == set(want)
        for ext, (n, talk) in want.items():
            row = table.locator(f"[data-test=agent-row][data-ext='{ext}']")
            assert (figure(row, "stat-calls"), figure(row, "stat-talk_total")) == (str(n), str(talk)), (period, ext)


def test_a_tenant_counts_its_own_calls_the_operator_all(served, records, page):
    svc, _ = served
    open_dashboard(page, svc.base, OPERATOR)
    summary = page.locator("[data-test=summary]")
    assert figure(summary, "stat-calls", period="today") == str(len(records["today"]) + len(records["beta"]))
    page.locator("[data-test=sign-out]").click()
    open_dashboard(page, svc.base, ACME)
    assert figure(page.locator("[data-test=summary]"), "stat-calls", period="today") == str(len(records["today"]))
    assert page.locator("[data-test=agent-row][data-ext='201']").count() == 0


def test_the_charts_are_drawn(served, records, page):
    svc, _ = served
    open_dashboard(page, svc.base, ACME)
    for chart in ("chart-hour", "chart-day", "chart-agents"):
        canvas = page.locator(f"[data-test={chart}] canvas")
        assert canvas.count() == 1, chart
        box = canvas.bounding_box()
        assert box["width"] > 200 and box["height"] > 100, (chart, box)
    # Some pixels drawn: a canvas left blank would be all zeros.
    painted = page.locator("[data-test=chart-day] canvas").evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v) => v !== 0)")
    assert painted
    legend = page.locator("[data-test=chart-hour] .chart-legend li").all_inner_texts()
    assert legend == ["Answered", "No answer", "Busy", "Cancelled", "Failed", "In progress"]
    # At a phone's width the charts shrink with the page rather than widen it.
    page.set_viewport_size({"width": 390, "height": 844})
    wait_for(lambda: page.evaluate(
        "() => document.querySelector('[data-test=chart-hour] canvas').getBoundingClientRect().width") < 390,
        5, "the chart narrowed to the page")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.mark.parametrize("page", ["en", "vi"], indirect=True)
def test_the_dashboard_is_accessible_in_both_languages(served, records, page):
    svc, _ = served
    lang = page.evaluate("navigator.language").split("-")[0]
    open_dashboard(page, svc.base, OPERATOR, lang)
    assert axe(page) == []
    for width, height in WIDTHS.values():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(200)  # the charts follow the new width (ResizeObserver)
        screenshot(page, "dashboard")


def test_the_dashboard_counts_the_calls_placed(own_service, page):
    """Three calls through the lab's Asterisk on a service of the test's own (a new database): two answered
    (the carrier hangs up after 1.5 s), one the customer's side refuses busy. The page, open before the calls, follows
    them from the event stream (no reload) and shows exactly those."""
    svc = own_service()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    open_dashboard(page, svc.base, TOKEN)
    summary = page.locator("[data-test=summary]")
    assert figure(summary, "stat-calls", period="today") == "0"
    finals = []
    with httpx.Client(base_url=svc.base, headers=headers, timeout=30) as client:
        for ext, hotline in (("108", HOTLINE_B), ("109", HOTLINE_B), ("108", HOTLINE_BUSY)):  # one at a time per agent
            r = client.get("/v1/click2call", params={"ext": ext, "phone": unique_phone(), "hotline": hotline})
            assert r.status_code == 200, r.text
            finals.append(final_record(client, r.json()["call_id"], timeout=30))
    assert [f["status"] for f in finals] == ["ANSWERED", "ANSWERED", "BUSY"], finals

    def settled():
        want = {"calls": "3", "in_progress": "0", "busy": "1"}
        return page.locator("[data-test=dashboard][data-state=ready]").count() == 1 and \
            all(figure(summary, f"stat-{name}", period="today") == n for name, n in want.items())
    wait_for(settled, 15, "the open dashboard to count the three calls")
    shown = {name: figure(summary, f"stat-{name}", period="today") for name in ("calls", "answered", "in_progress")}
    assert shown == {"calls": "3", "answered": "2", "in_progress": "0"}
    assert number(figure(summary, "stat-answer_rate", period="today")) == pytest.approx(0.6667)
    assert number(figure(summary, "stat-talk_total", period="today")) == sum(f["billsec"] for f in finals)
    hour = finals[2]["time_started"][:13] + ":00:00"  # the busy call's hour
    assert figure(page.locator(f"[data-test=hour-row][data-key='{hour}']"), "stat-busy") == "1"
    agents = page.locator("[data-test=agent-table]")
    assert figure(agents.locator("[data-test=agent-row][data-ext='108']"), "stat-calls") == "2"
    assert figure(agents.locator("[data-test=agent-row][data-ext='109']"), "stat-answered") == "1"
