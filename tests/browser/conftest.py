"""The web console in a real browser: Playwright for Python driving Debian's Chromium (/usr/bin/chromium; Playwright's
own browser download is not used), against the real service (the lab's fixtures, or tests/offline.py's service).

- `browser`: one headless Chromium for the run.
- `page`: a new page (its own cookies) that fails the test on any error in the browser console (a script error, a CSP
  violation, a module that did not load); a refused request (4xx) is not one: the page shows those itself.
- `signed_in(page, base, token)`: signs in through the form, as a person would.
- `screenshot(page, name)`: tests/browser/screenshots/<name>-<lang>-<width>.png (gitignored).
- `axe(page)`: axe-core's serious and critical violations on the page as it is.

Run on their own (`pytest tests/browser`; scripts/test.sh runs them after the rest): the lab's fixtures imported here
are a second copy of tests/lab's, and two lab sessions in one run would share Asterisk and the service's port.
A run of the whole tree leaves these tests out.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.lab.conftest import api, carriers, lab, phones, service

__all__ = ["api", "carriers", "lab", "phones", "service"]  # the lab's fixtures, for the tests here

HERE = Path(__file__).parent
SHOTS = HERE / "screenshots"
AXE = HERE / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
# Chromium's words for a response it got, not a fault of the page: a 401 before signing in, a refusal shown.
ANSWERED = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")


def pytest_ignore_collect(collection_path, config):
    """Left out unless the run names tests/browser (or a file in it)."""
    if collection_path.suffix != ".py":
        return None
    asked = [Path(a.split("::")[0]).resolve() for a in config.args]
    return not any(HERE == p or HERE in p.parents for p in asked) or None


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses to run as root
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=args, headless=True)
        yield chromium
        chromium.close()


class ConsoleErrors:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def console(self, message) -> None:
        if message.type == "error" and not ANSWERED.search(message.text):
            self.seen.append(f"console: {message.text}")

    def page_error(self, error) -> None:
        self.seen.append(f"uncaught: {error}")


@pytest.fixture
def page(browser, request):
    """A new context (no cookie) and page, 1280 px wide; any console error or CSP violation fails the test."""
    lang = getattr(request, "param", "en")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="vi-VN" if lang == "vi" else "en-US")
    page = context.new_page()
    errors = ConsoleErrors()
    page.on("console", errors.console)
    page.on("pageerror", errors.page_error)
    # A CSP violation is also reported to the page as an event: kept where the test can see it.
    page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                         "(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
    page.set_default_timeout(10_000)
    yield page
    try:
        violations = page.evaluate("window.__csp || []") if not page.is_closed() else []
    except Exception:  # the page navigated away or closed: its console messages are what is left
        violations = []
    context.close()
    problems = errors.seen + [f"CSP: {v}" for v in violations]
    if problems:
        pytest.fail("the browser reported: " + "; ".join(problems), pytrace=False)


def signed_in(page, base: str, token: str, lang: str = "en") -> None:
    """Open the console of the service at `base`, choose the language, sign in with `token` through the form; wait
    for the signed-in shell."""
    page.goto(f"{base}/console#/floor")
    page.locator("[data-test=token]").wait_for()
    page.evaluate("(l) => localStorage.setItem('c2c.lang', l)", lang)
    page.reload()
    page.locator("[data-test=token]").fill(token)
    page.locator("[data-test=sign-in]").click()
    page.locator("header.top:not([hidden])").wait_for()


def screenshot(page, name: str) -> Path:
    """The page as it is, at its current width, named for its language and width."""
    SHOTS.mkdir(exist_ok=True)
    lang = page.evaluate("document.documentElement.lang")
    path = SHOTS / f"{name}-{lang}-{page.viewport_size['width']}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe(page) -> list[dict]:
    """axe-core (vendored, tests only) on the page: its serious and critical violations (WCAG 2 A and AA rules)."""
    page.evaluate(AXE.read_text())  # run by the test (DevTools protocol), not by the page: its CSP does not apply
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa',
                                                                                'best-practice']}});
        return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' '))}));
    }""")
    return found
