"""The console in Chromium against the real service and the lab's Asterisk, with real SIP phones (sipp): a call rung
from the click-to-call form is on the live floor at once, its state follows the call, it is hung up from the floor and
leaves it, and its record says so; the pages with a live call pass the accessibility check in both languages, at both
widths, and are photographed."""

from __future__ import annotations

import pytest

from tests.browser.conftest import WIDTHS, axe, screenshot, signed_in
from tests.lab.conftest import HOTLINE_A, TOKEN
from tests.lab.helpers import final_record, unique_phone

SLOW_AGENT = "112"  # the lab's phone that answers after 2.5 s: its ringing is seen on the floor


def place_call(page, ext: str, phone: str, customer_id: str = "") -> str:
    """The click-to-call form, filled and sent as a person would; the call_id the page then shows."""
    page.goto(page.url.split("#")[0] + "#/call")
    page.locator("[data-test=call-ext]").fill(ext)
    page.locator("[data-test=call-phone]").fill(phone)
    page.locator("[data-test=call-hotline]").select_option(HOTLINE_A)
    page.locator("[data-test=call-customer-id]").fill(customer_id)
    page.locator("[data-test=call-submit]").click()
    page.locator("main[data-call-id]").wait_for()
    return page.locator("main").get_attribute("data-call-id")


def test_a_call_from_the_form_is_followed_on_the_floor_and_hung_up_there(service, api, page):
    signed_in(page, service.base, TOKEN)
    floor = page.context.new_page()  # the supervisor's floor beside the form (the same session)
    floor.set_default_timeout(10_000)
    floor.goto(f"{service.base}/console#/floor")
    floor.locator("[data-test=stream-status][data-live=true]").wait_for()

    phone = unique_phone()
    call_id = place_call(page, SLOW_AGENT, phone, "crm-browser-1")
    row = floor.locator(f"[data-test=call-row][data-call-id='{call_id}']")
    row.wait_for(timeout=2_000)  # on the floor within 2 s of the form's answer (the promise)
    assert row.locator("[data-test=ext]").text_content() == SLOW_AGENT
    assert row.locator("[data-test=phone]").text_content() == phone
    floor.locator(f"[data-test=call-row][data-call-id='{call_id}'][data-state=agent_ringing]").wait_for(timeout=2_000)
    floor.locator(f"[data-test=call-row][data-call-id='{call_id}'][data-state=connected]").wait_for()
    assert row.locator("[data-test=customer-id]").text_content() == "crm-browser-1"
    assert row.locator("[data-test=state]").text_content() == "Connected"
    floor.reload()  # what the floor draws from GET /v1/call alone: the same row, customer_id included
    row.locator("[data-test=customer-id]").filter(has_text="crm-browser-1").wait_for(timeout=2_000)
    floor.locator("[data-test=stream-status][data-live=true]").wait_for()
    floor.wait_for_function(f"""() => /^0:0[1-9]$/.test(document.querySelector(
        "[data-call-id='{call_id}'] [data-test=duration]").textContent)""")  # the duration ticks
    agent = floor.locator(f"[data-test=agent-row][data-ext='{SLOW_AGENT}']")
    agent.and_(floor.locator("[data-call-state=ONCALL]")).wait_for()

    # the form's page followed the call from the stream, in words
    steps = page.locator("[data-test=progress-step]")
    page.locator("[data-test=progress-step][data-event=answered][data-leg=customer]").wait_for()
    assert [steps.nth(i).get_attribute("data-event") + "/" + steps.nth(i).get_attribute("data-leg")
            for i in range(steps.count())][:4] == ["ringing/agent", "answered/agent", "ringing/customer",
                                                   "answered/customer"]
    for name, width in (("floor-call", 1280), ("floor-call", 390)):
        floor.set_viewport_size({"width": width, "height": WIDTHS["desktop" if width == 1280 else "phone"][1]})
        screenshot(floor, name)
    floor.set_viewport_size({"width": 1280, "height": 800})
    assert axe(floor) == []

    # the call's other buttons: the customer held and taken back, from the row's "More"
    row.locator("details.more > summary").click()
    toast = floor.locator("#toast")
    row.locator("[data-test=hold]").click()
    toast.filter(has_text="Hold customer: done.").wait_for()
    row.locator("[data-test=unhold]").click()
    toast.filter(has_text="Resume customer: done.").wait_for()
    row.locator("[data-test=unhold]").click()  # not held any more: refused, in words
    toast.filter(has_text="not on hold").wait_for()
    # an agent paused and resumed from its row (the stream brings the change back)
    agent.locator("[data-test=pause]").click()
    agent.and_(floor.locator("[data-paused=true]")).wait_for()
    agent.locator("[data-test=pause]").click()
    agent.and_(floor.locator("[data-paused=false]")).wait_for()

    row.locator("[data-test=hangup]").click()
    row.wait_for(state="detached")  # it leaves the floor
    agent.and_(floor.locator("[data-call-state=IDLE]")).wait_for()
    page.locator("[data-test=progress-step][data-event=hangup]").wait_for()
    record = final_record(api, call_id)
    assert (record["status"], record["hangup_by"], record["customer_id"]) == ("ANSWERED", "api", "crm-browser-1")
    assert [(a["action"], a["legs"]) for a in record["actions"]] == [("hold", "bleg"), ("unhold", "bleg")]
    # ... and the history page has it, with its record: answered, hung up from the console, held and taken back
    floor.goto(f"{service.base}/console#/history")
    floor.locator("[data-test=cdr-list][data-state=ready]").wait_for()
    floor.locator("[data-test=filter-customer_id]").fill("crm-browser-1")
    floor.locator("[data-test=cdr-search]").click()
    found = floor.locator(f"[data-test=call-row][data-call-id='{call_id}']")
    assert found.get_attribute("data-status") == "ANSWERED"
    found.locator("[data-test=cdr-open]").click()
    detail = floor.locator("[data-test=cdr-detail][data-state=ready]")
    assert detail.locator("[data-test=cdr-field-extension]").inner_text() == SLOW_AGENT
    assert detail.locator("[data-test=cdr-field-billsec]").inner_text() == \
        f"{record['billsec'] // 60}:{record['billsec'] % 60:02d}"
    assert [detail.locator("[data-test=action-row]").nth(i).get_attribute("data-action") for i in range(2)] == [
        "hold", "unhold"]
    floor.close()


def test_a_refused_call_is_said_in_words_and_hostile_input_stays_text(service, page):
    signed_in(page, service.base, TOKEN)
    place = page.locator("[data-test=call-submit]")
    page.goto(f"{service.base}/console#/call")
    error = page.locator("[data-test=call-error]")
    for ext, customer, words in (
            ("111", "", "busy"),  # the lab's 111 answers 486
            ("119", "", "not connected"),  # never registered
            ("101", "<script>window.__pwned=1</script>", "customer_id")):  # refused by the API, shown as text
        page.locator("[data-test=call-ext]").fill(ext)
        page.locator("[data-test=call-phone]").fill(unique_phone())
        page.locator("[data-test=call-customer-id]").fill(customer)
        place.click()
        error.filter(has_text=words).wait_for(timeout=15_000)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main script").count() == 0


@pytest.mark.parametrize("page", ["vi"], indirect=True)
def test_the_floor_with_a_call_in_vietnamese(service, api, page):
    signed_in(page, service.base, TOKEN, "vi")
    page.locator("[data-test=stream-status][data-live=true]").wait_for()
    r = api.get("/v1/click2call/async", params={"ext": "101", "phone": unique_phone(), "hotline": HOTLINE_A})
    call_id = r.json()["call_id"]
    row = page.locator(f"[data-test=call-row][data-call-id='{call_id}'][data-state=connected]")
    row.wait_for()
    assert row.locator("[data-test=state]").text_content() == "Đang nói chuyện"
    for width, height in WIDTHS.values():
        page.set_viewport_size({"width": width, "height": height})
        assert axe(page) == []
        screenshot(page, "floor-call")
    api.delete(f"/v1/call/{call_id}")
    row.wait_for(state="detached")
