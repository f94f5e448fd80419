"""The webhooks page in Chromium against the real service and a real local receiver (tests/receiver.py on
127.0.0.1, the only network the service's hooks may reach here): a hook added from the page, its deliveries with
their attempts and the receiver's answers, a failed one resent from the page and received, a hook removed; a
refusal shown in words; one tenant's hooks not shown to another; accessibility, both languages.

A delivery needs an event: the test writes a failed delivery of a `cdr` event for the page's hook into the service's
database, as the dispatcher leaves one the receiver answered 500 (no call is needed for that)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import pytest

from click2call.db import deliveries, delivery_attempts, webhook_events
from tests.browser.conftest import WIDTHS, axe, screenshot, signed_in
from tests.browser.pagekit import ACME, BETA, OPERATOR, SERVICE_ENV, TENANTS
from tests.offline import db
from tests.lab.helpers import SECRET_KEY, wait_for
from tests.offline import offline_service
from tests.receiver import Receiver

SECRET = "whsec_" + base64.b64encode(b"pages-browser-hook-secret-0001").decode()
APIKEY = "Bearer crm-key-from-the-page-0123"


@pytest.fixture(scope="module")
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("hooks")
    url = f"sqlite:///{work}/calls.db"
    # No C2C_WEBHOOK_SECRET: a hook made here brings its own secret. Hooks may reach 127.0.0.0/8 alone.
    with offline_service(work, url, tenants=TENANTS, C2C_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
                         C2C_SECRET_KEY=SECRET_KEY, **SERVICE_ENV) as svc:
        yield svc, url


def listed(base: str, token: str) -> list[dict]:
    r = httpx.get(f"{base}/v1/event", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def open_hooks(page, base: str, token: str, lang: str = "en") -> None:
    signed_in(page, base, token, lang)
    page.locator("[data-test=nav-hooks]").click()
    page.locator("[data-test=hook-list][data-state=ready]").wait_for()


def add_hook(page, url: str, event: str, secret: str = "", apikey: str = "") -> None:
    page.locator("[data-test=hook-form] [data-test=hook-url]").fill(url)
    page.locator("[data-test=hook-event]").select_option(event)
    page.locator("[data-test=hook-secret]").fill(secret)
    page.locator("[data-test=hook-apikey]").fill(apikey)
    page.locator("[data-test=hook-add]").click()


def failed_delivery(url: str, hook_id: str) -> dict:
    """A `cdr` event's delivery to the hook that the receiver answered 500 and the dispatcher gave up on."""
    now = time.time()
    event_id, call_id = uuid.uuid4().hex, str(uuid.uuid4())
    body = {"state": "cdr", "call_id": call_id, "customer_id": "crm-hook"}
    delivery = {"id": uuid.uuid4().hex, "event_id": event_id, "hook_id": hook_id, "call_id": call_id, "sequence": 6,
                "status": "failed", "attempts": 1, "next_attempt_at": now - 60, "created_at": now - 60,
                "delivered_at": None, "last_status_code": 500, "last_error": ""}

    def write(conn):
        conn.execute(webhook_events.insert().values(id=event_id, call_id=call_id, sequence=6, event="cdr",
                                                    body=json.dumps(body), created_at=now - 60))
        conn.execute(deliveries.insert().values(**delivery))
        conn.execute(delivery_attempts.insert().values(delivery_id=delivery["id"], attempted_at=now - 60,
                                                       status_code=500, error="", duration_ms=12,
                                                       answer="<b>invalid signature</b> for this hook"))
    db(url, write)
    return {**delivery, "body": body}


def test_add_see_deliveries_resend_and_remove_a_hook(served, receiver, page):
    svc, url = served
    receiver.reset()
    open_hooks(page, svc.base, ACME)
    assert page.locator("[data-test=hook-row]").count() == 0

    # Without a secret: the service has none of its own to sign with, and says so in words.
    add_hook(page, receiver.url("/crm"), "cdr")
    page.locator("[data-test=notice].error").wait_for()
    assert "secret" in page.locator("[data-test=notice]").inner_text()
    assert listed(svc.base, ACME) == []

    add_hook(page, receiver.url("/crm"), "cdr", SECRET, APIKEY)
    page.locator("[data-test=hook-row]").wait_for()
    hook, = listed(svc.base, ACME)
    assert (hook["callback_url"], hook["event"], hook["has_secret"], hook["has_callback_apikey"]) == \
        (receiver.url("/crm"), "cdr", True, True)
    row = page.locator(f"[data-test=hook-row][data-hook-id='{hook['id']}']")
    assert row.locator("[data-test=hook-url]").inner_text() == receiver.url("/crm")
    assert page.locator("[data-test=hook-secret]").input_value() == ""  # not kept in the page
    assert page.locator("[data-test=hook-apikey]").input_value() == ""
    assert SECRET not in page.content() and APIKEY not in page.content()

    delivery = failed_delivery(url, hook["id"])
    row.locator("[data-test=hook-deliveries]").click()
    page.locator("[data-test=deliveries][data-state=ready]").wait_for()
    shown = page.locator(f"[data-test=delivery-row][data-delivery-id='{delivery['id']}']")
    assert shown.get_attribute("data-status") == "failed"
    assert shown.locator("[data-test=delivery-answer]").inner_text() == "HTTP 500"
    assert shown.locator("[data-test=attempt]").evaluate_all("a => a.map(x => x.dataset.statusCode)") == ["500"]
    # what the receiver said when it refused, shown as the text it is
    assert shown.locator("[data-test=attempt-answer]").inner_text() == "<b>invalid signature</b> for this hook"

    shown.locator("[data-test=delivery-resend]").click()
    got = wait_for(lambda: receiver.received("/crm"), 15, "the resent delivery at the receiver")
    assert got[0]["headers"]["webhook-id"] == delivery["event_id"] and got[0]["json"] == delivery["body"]
    assert got[0]["headers"]["authorization"] == APIKEY  # the hook's own, given in the page

    def delivered():
        page.locator("[data-test=deliveries-reload]").click()
        page.locator("[data-test=deliveries][data-state=ready]").wait_for()
        return shown.get_attribute("data-status") == "delivered"
    wait_for(delivered, 10, "the page showing the delivery delivered")
    assert shown.locator("[data-test=attempt]").evaluate_all("a => a.map(x => x.dataset.statusCode)") == ["500", "200"]
    assert shown.locator("[data-test=delivery-answer]").inner_text() == "HTTP 200"

    # Removing asks once more in the row; "keep it" keeps it.
    row.locator("[data-test=hook-remove]").click()
    row.locator("[data-test=hook-remove-no]").click()
    assert len(listed(svc.base, ACME)) == 1
    row.locator("[data-test=hook-remove]").click()
    row.locator("[data-test=hook-remove-yes]").click()
    page.locator("[data-test=hook-row]").first.wait_for(state="detached")
    assert listed(svc.base, ACME) == []
    assert page.locator("[data-test=deliveries]").is_hidden()  # the removed hook's deliveries go with it


def test_a_refused_url_is_told_in_words(served, page):
    svc, _ = served
    open_hooks(page, svc.base, ACME)
    add_hook(page, "http://[::1]:9/crm", "hangup", SECRET)  # loopback, but outside the allowed 127.0.0.0/8
    page.locator("[data-test=notice].error").wait_for()
    assert "HOOK_URL_REFUSED" not in page.locator("[data-test=notice]").inner_text()
    assert listed(svc.base, ACME) == []


def test_a_tenant_sees_its_own_hooks_only(served, receiver, page):
    svc, _ = served
    for token, path in ((ACME, "/acme"), (BETA, "/beta")):
        r = httpx.post(f"{svc.base}/v1/event", json={"callback_url": receiver.url(path), "event": "cdr",
                                                     "secret": SECRET}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 201, r.text
    try:
        open_hooks(page, svc.base, BETA)
        assert page.locator("[data-test=hook-row] [data-test=hook-url]").all_inner_texts() == [receiver.url("/beta")]
        acme_hook = next(h for h in listed(svc.base, ACME))
        answer = page.evaluate("async (id) => (await fetch(`/v1/event/${id}/deliveries`)).status", acme_hook["id"])
        assert answer == 404
    finally:
        for token in (ACME, BETA):
            for hook in listed(svc.base, token):
                httpx.delete(f"{svc.base}/v1/event/{hook['id']}", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("page", ["en", "vi"], indirect=True)
def test_the_hooks_page_is_accessible_in_both_languages(served, receiver, page):
    svc, url = served
    r = httpx.post(f"{svc.base}/v1/event", json={"callback_url": receiver.url("/shots"), "event": "cdr",
                                                 "secret": SECRET}, headers={"Authorization": f"Bearer {OPERATOR}"})
    hook = r.json()["data"]
    failed_delivery(url, hook["id"])
    try:
        lang = page.evaluate("navigator.language").split("-")[0]
        open_hooks(page, svc.base, OPERATOR, lang)
        page.locator("[data-test=hook-deliveries]").click()
        page.locator("[data-test=deliveries][data-state=ready]").wait_for()
        assert axe(page) == []
        for width, height in WIDTHS.values():
            page.set_viewport_size({"width": width, "height": height})
            screenshot(page, "hooks")
        page.locator("[data-test=hook-remove]").click()  # the confirmation's own controls
        assert axe(page) == []
    finally:
        httpx.delete(f"{svc.base}/v1/event/{hook['id']}", headers={"Authorization": f"Bearer {OPERATOR}"})
