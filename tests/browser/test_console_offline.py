"""The console in Chromium against the real service without an Asterisk (tests/offline.py): signing in and out, a
wrong token, the CSRF check from the page itself, a hostile customer_id shown as text, accessibility, both languages
at both widths. What needs calls placed is in test_console_lab.py."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from click2call.db import agent_presence, calls, stream_events
from tests.browser.conftest import WIDTHS, axe, screenshot, signed_in
from click2call.tenants import hash_token
from tests.offline import db, offline_service
from tests.test_token_scopes import call_row

HOTLINE = "02873000001"
OPERATOR = "operator-browser-0123456789"
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
AGENT = "acme-agent-101-browser-0123"
TENANTS = f"""
[[tenant]]
name = "acme"
extension_pattern = "1[0-9][0-9]"
hotlines = ["{HOTLINE}"]
  [[tenant.token]]
  id = "agent-101"
  token = "{hash_token(AGENT)}"
  extension = "101"
"""



@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{work}/calls.db"
    with offline_service(work, url, tenants=TENANTS, C2C_HOTLINES=f"{HOTLINE}=trunk-a",
                         C2C_API_TOKENS=f"{OPERATOR};id=ops", C2C_TIMEZONE="Asia/Ho_Chi_Minh") as svc:
        yield svc, url


def test_sign_in_and_out(served, page):
    svc, _ = served
    page.goto(f"{svc.base}/console")
    page.locator("[data-test=token]").fill("wrong-token-0123456789")
    page.locator("[data-test=sign-in]").click()
    page.locator("[data-test=sign-in-error]").filter(has_text="not valid").wait_for()
    assert page.context.cookies() == []
    page.locator("[data-test=token]").fill(OPERATOR)
    page.locator("[data-test=sign-in]").click()
    page.locator("[data-test=calls]").or_(page.locator("[data-test=no-calls]")).wait_for()
    cookie, = page.context.cookies()
    assert cookie["name"] == "c2c_session" and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script of the page reads it
    assert OPERATOR not in json.dumps(page.evaluate("({...localStorage, ...sessionStorage})"))
    page.reload()  # the session outlives a reload: the page asks for its CSRF token again
    page.locator("[data-test=who]").filter(has_text="ops").wait_for()
    page.locator("[data-test=sign-out]").click()
    page.locator("[data-test=token]").wait_for()
    assert page.context.cookies() == []


def test_a_change_without_the_csrf_token_is_refused_from_the_page(served, page):
    svc, url = served
    signed_in(page, svc.base, OPERATOR)
    answers = page.evaluate("""async () => {
        const send = (headers) => fetch('/v1/agent/101/pause', {method: 'POST', headers: {'Content-Type':
            'application/json', ...headers}, body: JSON.stringify({reason: 'x'})}).then(async (r) => [r.status,
            (await r.json()).error]);
        const csrf = (await (await fetch('/console/session')).json()).csrf;
        const answers = [await send({}), await send({'X-CSRF-Token': 'forged'}), await send({'X-CSRF-Token': csrf})];
        await fetch('/v1/agent/101/resume', {method: 'POST', headers: {'X-CSRF-Token': csrf}});
        return answers;
    }""")
    assert answers[:2] == [[403, "CSRF_REQUIRED"], [403, "CSRF_REQUIRED"]] and answers[2][0] == 200, answers


def test_a_hostile_customer_id_is_shown_as_text(served, page):
    svc, url = served
    signed_in(page, svc.base, OPERATOR)
    page.locator("[data-test=no-calls]").wait_for()
    page.locator("[data-test=stream-status][data-live=true]").wait_for()  # what is logged from now on comes live
    row = call_row("101", "0899000101")
    row["customer_id"], row["tenant"] = HOSTILE, None
    db(url, lambda conn: conn.execute(calls.insert(), [row]))
    event = {"call_id": row["call_id"], "sip_call_id": "", "direction": "outbound", "from_number": "101",
             "to_number": "0899000101", "hotline": HOTLINE, "cause": "", "customer_id": HOSTILE, "node": "asterisk",
             "timestamp": time.time() - 65, "sequence": 3, "state": "answered", "leg": "customer"}
    db(url, lambda conn: conn.execute(stream_events.insert(), [
        {"tenant": None, "extension": "101", "event": "answered", "call_id": row["call_id"], "sequence": 3,
         "body": json.dumps(event), "created_at": time.time()}]))
    cell = page.locator(f"[data-test=call-row][data-call-id='{row['call_id']}'] [data-test=customer-id]")
    cell.filter(has_text="<script>").wait_for()  # the row may come first from GET /v1/call, which has no customer_id
    assert cell.text_content() == HOSTILE
    assert page.evaluate("window.__pwned") is None
    assert page.locator("[data-test=calls] img, [data-test=calls] script").count() == 0
    db(url, lambda conn: conn.execute(sa.delete(calls).where(calls.c.call_id == row["call_id"])))


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_pages_are_accessible_in_both_languages_at_both_widths(served, page, lang):
    svc, url = served
    def registered(conn):  # two agents on the floor (once for the module)
        if not conn.execute(sa.select(agent_presence.c.extension)).first():
            conn.execute(agent_presence.insert(), [
                {"node": "asterisk", "extension": ext, "registered": True, "call_state": "IDLE",
                 "state_since": time.time(), "updated_at": time.time()} for ext in ("101", "102")])
    db(url, registered)
    page.goto(f"{svc.base}/console")
    page.evaluate("(l) => localStorage.setItem('c2c.lang', l)", lang)
    page.reload()
    page.locator("[data-test=token]").wait_for()
    assert page.evaluate("document.documentElement.lang") == lang
    for width, height in WIDTHS.values():
        page.set_viewport_size({"width": width, "height": height})
        assert axe(page) == []
        screenshot(page, "sign-in")
    signed_in(page, svc.base, OPERATOR, lang)
    for name in ("floor", "call"):
        page.goto(f"{svc.base}/console#/{name}")
        page.locator(f"main[data-page={name}] h1").wait_for()
        page.locator("[data-test=agent-row]").first.wait_for() if name == "floor" else None
        for width, height in WIDTHS.values():
            page.set_viewport_size({"width": width, "height": height})
            assert axe(page) == [], name
            screenshot(page, name)


def test_an_agent_s_console_is_its_own_extension_s(served, page):
    svc, url = served
    theirs = call_row("102", "0899000102")
    db(url, lambda conn: conn.execute(calls.insert(), [theirs]))
    signed_in(page, svc.base, AGENT)
    page.locator("[data-test=who]").filter(has_text="101").wait_for()
    page.locator("[data-test=no-calls]").wait_for()  # another agent's call in progress is not shown
    page.goto(f"{svc.base}/console#/call")
    ext = page.locator("[data-test=call-ext]")
    assert ext.input_value() == "101" and ext.get_attribute("readonly") is not None
    assert page.locator("[data-test=call-hotline] option").all_text_contents() == [HOTLINE]
    db(url, lambda conn: conn.execute(sa.delete(calls).where(calls.c.call_id == theirs["call_id"])))


@pytest.mark.parametrize("page", ["vi"], indirect=True)
def test_vietnamese_first_when_the_browser_prefers_it(served, page):
    svc, _ = served
    page.goto(f"{svc.base}/console")
    page.locator("[data-test=sign-in]").filter(has_text="Đăng nhập").wait_for()
    assert page.evaluate("document.documentElement.lang") == "vi"
    page.locator("[data-test=token]").fill(OPERATOR)
    page.locator("[data-test=sign-in]").click()
    page.locator("[data-test=lang]").select_option("en")  # a choice is kept over the browser's preference
    page.locator("[data-test=sign-out]").filter(has_text="Sign out").wait_for()
    page.reload()
    page.locator("[data-test=sign-out]").filter(has_text="Sign out").wait_for()
    assert page.evaluate("document.documentElement.lang") == "en"


def test_the_console_is_used_with_the_keyboard_alone(served, page):
    """Signed in, moved between pages and a search run with Tab and Enter only; the focused control is visible."""
    svc, _ = served
    page.goto(f"{svc.base}/console")
    page.locator("[data-test=token]").wait_for()

    def tab_to(selector: str, most: int = 40) -> None:
        for _ in range(most):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({json.dumps(selector)})"):
                outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
                assert outline != "none", f"{selector}: focused without a visible outline"
                return
        raise AssertionError(f"{selector} is not reached with Tab")

    tab_to("[data-test=token]")
    page.keyboard.type(OPERATOR)
    page.keyboard.press("Enter")
    page.locator("[data-test=calls]").or_(page.locator("[data-test=no-calls]")).wait_for()
    tab_to("[data-test=nav-history]")
    page.keyboard.press("Enter")
    page.locator("[data-test=cdr-list][data-state=ready]").wait_for()
    tab_to("[data-test=filter-status]")
    page.keyboard.press("ArrowDown")  # the first status after "any"
    chosen = page.locator("[data-test=filter-status]").input_value()
    assert chosen
    tab_to("[data-test=cdr-search]")
    page.keyboard.press("Enter")
    page.locator("[data-test=cdr-list][data-state=ready]").wait_for()
    assert f"status={chosen}" in page.locator("[data-test=cdr-export]").get_attribute("href")
