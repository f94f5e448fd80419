"""The history page in Chromium against the real service (its records written into its database before the test;
no Asterisk needed): every filter of GET /v1/cdr finds in the page what the API finds, paging by number and by
newer/older, a call's legs and actions, its recording played from the page (a real wav, seeking through Range with
the session cookie), a tenant's session never showing another tenant's call, accessibility, both languages.
A call recorded by the lab's Asterisk, played in the page: test_recorded_call_plays_in_the_page (lab)."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import WIDTHS, axe, screenshot, signed_in
from tests.browser.pagekit import (ACME, AGENT, BETA, HOTLINE, HOTLINE_2, OPERATOR, SERVICE_ENV, TENANTS, call, call_ids,
                                   day_key, days_ago, eventful, insert, wav)
from tests.lab.conftest import HOTLINE_A as LAB_HOTLINE, TOKEN
from tests.lab.helpers import final_record, invite_to, unique_phone, wait_for
from tests.offline import offline_service

STATUSES = ["ANSWERED", "NO_ANSWER", "BUSY", "CANCELLED", "FAILED"]
HOSTILE = '<script>window.__pwned=1</script>'


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("history")
    url = f"sqlite:///{work}/calls.db"
    with offline_service(work, url, tenants=TENANTS, **SERVICE_ENV) as svc:
        yield svc, url, work


@pytest.fixture(scope="module")
def records(served):
    """Acme's 64 calls over the last 8 days (two extensions, two hotlines, every status, a few customer ids), the
    eventful one recorded (35 s, a real wav), and beta's 6."""
    _, url, work = served
    rows = []
    for n in range(64):
        rows.append(call(days_ago(n // 8, hour=8 + n % 8), status=STATUSES[n % 5], ext=["101", "102"][n % 2],
                         hotline=[HOTLINE, HOTLINE_2][n % 3 == 0], phone=f"08990000{n % 4:02d}",
                         customer_id=f"crm-{n % 7}" if n % 2 else None, talk=10 + n, wait=1 + n % 5))
    rows[0]["customer_id"] = HOSTILE
    recorded = eventful(call(time.time() - 600, ext="101", talk=35, recorded=True, customer_id="crm-recorded"))
    wav(work / "rec" / f"{recorded['call_id']}.wav", 35)
    beta = [call(days_ago(n % 3, hour=10), ext="201", tenant="beta", customer_id="beta-only") for n in range(6)]
    insert(url, [*rows, recorded, *beta])
    return {"acme": rows + [recorded], "recorded": recorded, "beta": beta}


def api_ids(base: str, token: str, **params) -> tuple[list[str], dict]:
    r = httpx.get(f"{base}/v1/cdr", params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["data"]], r.json()


def open_history(page, base: str, token: str, lang: str = "en") -> None:
    signed_in(page, base, token, lang)
    page.locator("[data-test=nav-history]").click()
    ready(page)


def ready(page, what: str = "cdr-list") -> None:
    page.locator(f"[data-test={what}][data-state=ready]").wait_for()


def search(page, **filters: str) -> None:
    """Fill the filters as a person would (selects chosen, the rest typed) and search."""
    for name, value in filters.items():
        control = page.locator(f"[data-test=filter-{name}]")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    page.locator("[data-test=cdr-search]").click()
    ready(page)


@pytest.mark.parametrize("filters", [
    {},
    {"status": "ANSWERED"},
    {"extension": "102", "status": "BUSY"},
    {"phone": "0899000002"},
    {"phone": HOTLINE_2},
    {"customer_id": "crm-3"},
    {"hotline": HOTLINE_2, "min_duration": "40"},
    {"start_date": "DAY3", "end_date": "DAY1"},
])
def test_every_filter_finds_what_the_api_finds(served, records, page, filters):
    svc, _, _ = served
    days = {f"DAY{n}": day_key(days_ago(n)) for n in range(8)}
    filters = {k: days.get(v, v) for k, v in filters.items()}
    open_history(page, svc.base, ACME)
    search(page, limit="100", **filters)
    expected, answer = api_ids(svc.base, ACME, limit=100, page=1, **filters)
    assert expected, "the filters match some calls"
    assert call_ids(page) == expected
    assert page.locator("[data-test=cdr-summary]").get_attribute("data-total") == str(answer["total"])
    # The page's CSV link: the same calls, downloaded with the session cookie.
    with page.expect_download() as download:
        page.locator("[data-test=cdr-export]").click()
    lines = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert [line["id"] for line in lines] == expected


def test_paging_by_number_and_by_newer_older(served, records, page):
    svc, _, _ = served
    open_history(page, svc.base, ACME)
    search(page, limit="20")
    pages = [api_ids(svc.base, ACME, limit=20, page=n)[0] for n in (1, 2, 3, 4)]
    assert call_ids(page) == pages[0]
    assert page.locator("[data-test=cdr-summary]").inner_text() == "65 calls, page 1 of 4"
    page.locator("[data-test=page-next]").click()
    ready(page)
    assert call_ids(page) == pages[1]
    page.locator("[data-test=page-number][data-page='4']").click()
    ready(page)
    assert call_ids(page) == pages[3] and len(pages[3]) == 5
    assert page.locator("[data-test=page-next]").is_disabled()
    assert page.locator("[data-test=page-number][aria-current=page]").inner_text() == "4"

    search(page, mode="scroll")  # the same calls, walked by keyset
    walked = [call_ids(page)]
    while page.locator("[data-test=page-older]").is_enabled():
        page.locator("[data-test=page-older]").click()
        ready(page)
        walked.append(call_ids(page))
    assert walked == pages
    page.locator("[data-test=page-newer]").click()
    ready(page)
    assert call_ids(page) == pages[2]


def test_a_call_shows_its_legs_actions_and_plays_its_recording(served, records, page):
    svc, _, _ = served
    recorded = records["recorded"]
    open_history(page, svc.base, ACME)
    search(page, customer_id="crm-recorded")
    page.locator(f"[data-test=call-row][data-call-id='{recorded['call_id']}'] [data-test=cdr-open]").click()
    ready(page, "cdr-detail")
    detail = page.locator("[data-test=cdr-detail]")
    legs = detail.locator("[data-test=leg-row]")
    assert legs.evaluate_all("rows => rows.map(r => r.dataset.leg)") == [
        "agent", "customer", "agents", "agents", "supervisor", "transfer"]
    assert "102" in legs.nth(2).inner_text() and "NO_ANSWER" in legs.nth(2).inner_text()
    assert "105" in legs.nth(4).inner_text() and "listen" in legs.nth(4).inner_text()
    assert "103" in legs.nth(5).inner_text() and "answered" in legs.nth(5).inner_text()
    actions = detail.locator("[data-test=action-row]").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions == ["hold", "unhold", "dtmf", "listen"]
    assert "12#" in detail.locator("[data-test=action-row][data-action=dtmf]").inner_text()
    assert detail.locator("[data-test=cdr-field-billsec]").inner_text() == "0:35"

    audio = detail.locator("audio[data-test=recording]")
    assert audio.get_attribute("src") == f"/v1/recordings/{recorded['call_id']}"
    duration = audio.evaluate("""a => new Promise((done, fail) => {
        if (a.readyState >= 1) return done(a.duration);
        a.addEventListener('loadedmetadata', () => done(a.duration));
        a.addEventListener('error', () => fail(new Error('the audio did not load: ' + a.error.code)));
    })""")
    assert abs(duration - recorded["billsec"]) <= 1.5, duration
    # Seeking asks for a range of the file, with the session cookie alone (no token in the page or the URL).
    seeked = audio.evaluate("""a => new Promise((done) => {
        a.addEventListener('seeked', () => done(a.currentTime), {once: true});
        a.currentTime = 30;
    })""")
    assert abs(seeked - 30) < 0.5
    part = page.evaluate("""async (src) => {
        const r = await fetch(src, {headers: {Range: 'bytes=0-11'}});
        return [r.status, r.headers.get('content-range'), new TextDecoder().decode(await r.arrayBuffer())];
    }""", audio.get_attribute("src"))
    assert part[0] == 206 and part[1].startswith("bytes 0-11/") and part[2].startswith("RIFF"), part
    page.locator("[data-test=cdr-close]").click()
    assert page.locator("[data-test=cdr-list]").is_visible()


def test_a_customer_id_holding_a_script_is_text(served, records, page):
    svc, _, _ = served
    open_history(page, svc.base, ACME)
    search(page, limit="100")  # all of acme's calls on one page
    cell = page.locator(f"[data-call-id='{records['acme'][0]['call_id']}'] [data-test=cdr-customer]")
    assert cell.inner_text() == HOSTILE
    assert page.evaluate("window.__pwned") is None


def test_a_tenant_never_sees_another_tenants_calls(served, records, page):
    svc, _, work = served
    open_history(page, svc.base, BETA)
    search(page, limit="100")
    beta = {c["call_id"] for c in records["beta"]}
    assert set(call_ids(page)) == beta
    assert set(page.locator("[data-test=cdr-extension]").all_inner_texts()) == {"201"}
    recorded = records["recorded"]["call_id"]
    answers = page.evaluate("""async (id) => Promise.all([`/v1/cdr/${id}`, `/v1/recordings/${id}`].map(
        async (path) => { const r = await fetch(path); return [r.status, (await r.json()).error]; }))""", recorded)
    assert answers == [[404, "CALL_NOT_FOUND"], [404, "RECORDING_NOT_FOUND"]]
    search(page, customer_id="crm-recorded")  # what acme's call would match: nothing for beta
    assert call_ids(page) == []
    # And the other way round: acme's session, beta's customer id.
    page.locator("[data-test=sign-out]").click()
    open_history(page, svc.base, ACME)
    search(page, customer_id="beta-only")
    assert call_ids(page) == []


def test_an_agent_sees_its_own_extensions_calls(served, records, page):
    svc, _, _ = served
    open_history(page, svc.base, AGENT)
    assert page.locator("[data-test=filter-extension]").input_value() == "101"
    search(page, limit="100")
    mine = [c["call_id"] for c in sorted(records["acme"], key=lambda c: (c["created_at"], c["call_id"]), reverse=True)
            if c["extension"] == "101"]
    assert call_ids(page) == mine
    search(page, extension="102")  # another agent's: none, rather than an error
    assert call_ids(page) == []


@pytest.mark.parametrize("page", ["en", "vi"], indirect=True)
def test_history_is_accessible_in_both_languages(served, records, page):
    svc, _, _ = served
    lang = page.evaluate("navigator.language").split("-")[0]
    open_history(page, svc.base, OPERATOR, lang)
    assert page.evaluate("document.documentElement.lang") == lang
    assert axe(page) == []
    for width, height in WIDTHS.values():
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, "history")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator(f"[data-call-id='{records['recorded']['call_id']}'] [data-test=cdr-open]").click()
    ready(page, "cdr-detail")
    page.locator("audio[data-test=recording]").evaluate(
        "a => a.readyState >= 1 || new Promise((done) => a.addEventListener('loadedmetadata', done))")
    assert axe(page) == []
    screenshot(page, "history-call")


def test_recorded_call_plays_in_the_page(service, api, carriers, page):
    """A call recorded by the lab's Asterisk (the customer answers, the API hangs up some seconds later): the page's
    audio element loads it through the session cookie and reports a duration within 1.5 s of its billsec."""
    phone = unique_phone()
    r = api.get("/v1/click2call", params={"ext": "110", "phone": phone, "hotline": LAB_HOTLINE, "record": "true",
                                          "customer_id": "crm-browser-rec"})
    assert r.status_code == 200, r.text
    call_id = r.json()["call_id"]
    invite_to(carriers[LAB_HOTLINE], phone)
    wait_for(lambda: api.get(f"/v1/cdr/{call_id}").json()["time_answered"], 10, "the customer's answer")
    time.sleep(4)
    api.delete(f"/v1/call/{call_id}")
    rec = final_record(api, call_id)
    assert rec["recording_url"] and rec["billsec"] >= 3, rec

    open_history(page, service.base, TOKEN)
    search(page, customer_id="crm-browser-rec")
    assert call_ids(page) == [call_id]
    page.locator("[data-test=cdr-open]").click()
    ready(page, "cdr-detail")
    duration = page.locator("audio[data-test=recording]").evaluate("""a => new Promise((done, fail) => {
        if (a.readyState >= 1) return done(a.duration);
        a.addEventListener('loadedmetadata', () => done(a.duration));
        a.addEventListener('error', () => fail(new Error('the audio did not load: ' + a.error.code)));
    })""")
    assert abs(duration - rec["billsec"]) <= 1.5, (duration, rec["billsec"])
