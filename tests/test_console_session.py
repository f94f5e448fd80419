"""The web console's session on the real service (`click2call serve`, an unreachable Asterisk), on a real SQLite file
and a real PostgreSQL: signing in sets a signed HttpOnly SameSite=Strict cookie that stands for the token; a change
made with it needs its CSRF token; another tenant's session sees only its own records; a forged cookie, or one whose
token was removed, is refused; the console's files come with the Content-Security-Policy."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa

from click2call.db import agents, audit, calls, hooks
from click2call.tenants import hash_token
from tests.offline import offline_service
from tests.test_token_scopes import call_row, db

HOTLINE = "02873000001"
ACME, ACME_AGENT, BETA, OPERATOR = ("acme-console-0123456789", "acme-agent-101-console-0123", "beta-console-0123456789",
                                    "operator-console-0123456789")
TENANTS = f"""
[[tenant]]
name = "acme"
extension_pattern = "1[0-9][0-9]"
hotlines = ["{HOTLINE}"]
  [[tenant.token]]
  id = "acme-crm"
  token = "{hash_token(ACME)}"
  [[tenant.token]]
  id = "acme-agent-101"
  token = "{hash_token(ACME_AGENT)}"
  extension = "101"

[[tenant]]
name = "beta"
extensions = ["201"]
hotlines = ["{HOTLINE}"]
  [[tenant.token]]
  id = "beta-crm"
  token = "{hash_token(BETA)}"
"""
ENV = {"C2C_HOTLINES": f"{HOTLINE}=trunk-a", "C2C_API_TOKENS": f"{OPERATOR};id=ops"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    work = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{work}/calls.db" if request.param == "sqlite" else \
        request.getfixturevalue("postgres").new_database()
    with offline_service(work, url, tenants=TENANTS, **ENV) as svc:
        yield svc, url


def sign_in(client: httpx.Client, token: str) -> tuple[httpx.Response, dict]:
    """POST /console/session: the answer, and the headers a browser would send after it (cookie, CSRF token)."""
    r = client.post("/console/session", json={"token": token})
    client.cookies.clear()  # each request says which session it comes with
    if r.status_code != 200:
        return r, {}
    cookie = re.match(r"c2c_session=([^;]+)", r.headers["set-cookie"]).group(1)
    return r, {"Cookie": f"c2c_session={cookie}", "X-CSRF-Token": r.json()["csrf"]}


def without_csrf(headers: dict) -> dict:
    return {"Cookie": headers["Cookie"]}


def trail(url: str, since: int) -> list[tuple]:
    return db(url, lambda conn: [tuple(r) for r in conn.execute(
        sa.select(audit.c.token_id, audit.c.action, audit.c.status, audit.c.error, audit.c.extension)
        .where(audit.c.id > since).order_by(audit.c.id))])


def last_audit(url: str) -> int:
    return db(url, lambda conn: conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit.c.id), 0))).scalar_one())


def test_signing_in_sets_a_session_cookie_and_a_wrong_token_does_not(served):
    svc, url = served
    since = last_audit(url)
    with httpx.Client(base_url=svc.base, timeout=30) as client:
        r, session = sign_in(client, ACME)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "success" and body["token_id"] == "acme-crm" and len(body["csrf"]) >= 32
        cookie = r.headers["set-cookie"]
        attributes = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
        assert {"httponly", "samesite", "path", "max-age"} <= set(attributes), cookie
        assert attributes["samesite"].lower() == "samesite=strict" and attributes["path"] == "Path=/"
        assert attributes["max-age"] == "Max-Age=43200"  # C2C_CONSOLE_SESSION_HOURS' 12 h
        assert "secure" not in attributes  # plain http here; https sets it
        # behind a TLS proxy on this host (uvicorn trusts its X-Forwarded-Proto from 127.0.0.1)
        proxied = client.post("/console/session", json={"token": ACME}, headers={"X-Forwarded-Proto": "https"})
        client.cookies.clear()
        assert "secure" in proxied.headers["set-cookie"].lower().replace(" ", "").split(";"), proxied.headers
        assert ACME not in cookie and hash_token(ACME) not in cookie

        for wrong in ("acme-console-0123456780", "Bearer " + ACME, " "):
            refused = client.post("/console/session", json={"token": wrong})
            client.cookies.clear()
            assert refused.status_code in (400, 401) and "set-cookie" not in refused.headers, refused.text
        assert client.post("/console/session", json={"token": "nope-0123456789"}).json()["error"] == "UNAUTHORIZED"
        assert client.post("/console/session", json={}).json()["error"] == "MISSING_PARAMETER"
        # what a form of another site could send (text/plain, no CORS preflight): refused, no cookie
        form = client.post("/console/session", content=f'{{"token": "{ACME}", "x": "="}}',
                           headers={"Content-Type": "text/plain"})
        assert (form.status_code, form.json()["error"]) == (400, "INVALID_PARAMETER") and "set-cookie" not in form.headers

        again = client.get("/console/session", headers=without_csrf(session))
        assert again.json() == {"status": "success", "token_id": "acme-crm", "csrf": body["csrf"]}
        assert client.get("/console/session").status_code == 401
        assert client.get("/console/session", headers={"Authorization": f"Bearer {ACME}"}).status_code == 401
    assert trail(url, since) == [("acme-crm", "session_create", 200, None, None)] * 2  # wrong tokens: no id to name


def test_the_cookie_stands_for_the_token_and_its_changes_need_the_csrf_token(served):
    svc, url = served
    with httpx.Client(base_url=svc.base, timeout=30) as client:
        _, session = sign_in(client, ACME_AGENT)
        me = client.get("/v1/me", headers=without_csrf(session)).json()
        assert me == {"status": "success", "token_id": "acme-agent-101", "tenant": "acme", "operator": False,
                      "scopes": sorted(me["scopes"]), "extension": "101", "hotlines": [HOTLINE], "timezone": "UTC"}
        assert "supervise" not in me["scopes"] and "calls:read" in me["scopes"]
        assert client.get("/v1/cdr", headers=without_csrf(session)).status_code == 200
        assert client.get("/v1/cluster", headers=without_csrf(session)).json()["error"] == "SCOPE_REQUIRED"

        before = db(url, lambda conn: (conn.execute(sa.select(sa.func.count()).select_from(agents)).scalar_one(),
                                       conn.execute(sa.select(sa.func.count()).select_from(hooks)).scalar_one()))
        since = last_audit(url)
        for headers in (without_csrf(session), {**session, "X-CSRF-Token": session["X-CSRF-Token"][:-4] + "AAAA"}):
            r = client.post("/v1/agent/101/pause", json={"reason": "lunch"}, headers=headers)
            assert (r.status_code, r.json()["error"]) == (403, "CSRF_REQUIRED"), r.text
            # TEL4VN's click-to-call is a GET that changes state: it needs the token too
            r = client.get("/v1/click2call/async", params={"ext": "101", "phone": "0899098899"}, headers=headers)
            assert (r.status_code, r.json()["error"]) == (403, "CSRF_REQUIRED"), r.text
        after = db(url, lambda conn: (conn.execute(sa.select(sa.func.count()).select_from(agents)).scalar_one(),
                                      conn.execute(sa.select(sa.func.count()).select_from(hooks)).scalar_one()))
        assert after == before
        # (refused before its query is read: a click-to-call's extension is not known then)
        assert trail(url, since) == [("acme-agent-101", "pause", 403, "CSRF_REQUIRED", "101"),
                                     ("acme-agent-101", "click_to_call", 403, "CSRF_REQUIRED", None)] * 2

        ok = client.post("/v1/agent/101/pause", json={"reason": "lunch"}, headers=session)
        assert ok.status_code == 200 and ok.json()["paused"] is True
        assert client.post("/v1/agent/101/resume", headers=session).json()["paused"] is False
        # a Bearer token needs no CSRF token (no browser sends it by itself)
        assert client.post("/v1/agent/101/pause", headers={"Authorization": f"Bearer {ACME_AGENT}"}).status_code == 200
        assert client.post("/v1/agent/101/resume", headers={"Authorization": f"Bearer {ACME_AGENT}"}).status_code == 200

        assert client.delete("/console/session", headers=without_csrf(session)).json()["error"] == "CSRF_REQUIRED"
        out = client.delete("/console/session", headers=session)
        assert out.status_code == 200 and re.search(r"c2c_session=\"?\"?;.*Max-Age=0", out.headers["set-cookie"])


def test_a_session_sees_its_own_tenant_s_records_only(served):
    svc, url = served
    mine, theirs = call_row("102", "0899000102", "ANSWERED"), {**call_row("201", "0899000201", "ANSWERED"),
                                                                "tenant": "beta"}
    db(url, lambda conn: conn.execute(calls.insert(), [mine, theirs]))
    with httpx.Client(base_url=svc.base, timeout=30) as client:
        seen = {}
        for token in (ACME, BETA, OPERATOR, ACME_AGENT):
            _, session = sign_in(client, token)
            page = client.get("/v1/cdr", params={"limit": 500}, headers=without_csrf(session)).json()["data"]
            seen[token] = {c["id"] for c in page} & {mine["call_id"], theirs["call_id"]}
        assert seen == {ACME: {mine["call_id"]}, BETA: {theirs["call_id"]}, OPERATOR: {mine["call_id"],
                        theirs["call_id"]}, ACME_AGENT: set()}
        _, beta = sign_in(client, BETA)
        r = client.get(f"/v1/cdr/{mine['call_id']}", headers=without_csrf(beta))
        assert (r.status_code, r.json()["error"]) == (404, "CALL_NOT_FOUND")


def test_a_forged_or_tampered_cookie_is_refused(served):
    svc, _ = served
    with httpx.Client(base_url=svc.base, timeout=30) as client:
        _, session = sign_in(client, ACME)
        value = session["Cookie"].removeprefix("c2c_session=")
        payload, signature = value.split(".")
        for bad in (f"{payload}.{signature[:-3]}abc", f"{payload[:-2]}xx.{signature}", "x", ""):
            r = client.get("/v1/cdr", headers={"Cookie": f"c2c_session={bad}"})
            assert r.status_code == 401 and r.json()["error"] == "UNAUTHORIZED", bad
        # the Authorization header wins over a cookie: a wrong Bearer token is refused whatever the cookie
        r = client.get("/v1/cdr", headers={**session, "Authorization": "Bearer wrong-0123456789"})
        assert r.status_code == 401


def test_a_removed_token_ends_its_sessions_a_kept_one_outlives_a_restart(tmp_path):
    url = f"sqlite:///{tmp_path}/calls.db"
    with offline_service(tmp_path, url, tenants=TENANTS, **ENV) as svc:
        with httpx.Client(base_url=svc.base, timeout=30) as client:
            _, acme = sign_in(client, ACME)
            _, beta = sign_in(client, BETA)
    removed = TENANTS.replace(f'  [[tenant.token]]\n  id = "beta-crm"\n  token = "{hash_token(BETA)}"\n',
                              f'tokens = ["{hash_token("beta-other-0123456789")}"]\n')
    assert removed != TENANTS
    with offline_service(tmp_path, url, tenants=removed, **ENV) as svc:  # the same C2C_SECRET_KEY
        with httpx.Client(base_url=svc.base, timeout=30) as client:
            assert client.get("/v1/cdr", headers=without_csrf(acme)).status_code == 200
            r = client.get("/v1/cdr", headers=without_csrf(beta))
            assert (r.status_code, r.json()["error"]) == (401, "UNAUTHORIZED")
            assert client.get("/console/session", headers=without_csrf(beta)).status_code == 401


def test_the_console_is_served_with_its_security_headers(served):
    svc, _ = served
    with httpx.Client(base_url=svc.base, timeout=30) as client:
        for path, kind in (("/console", "text/html"), ("/console/", "text/html"),
                           ("/console/js/app.js", "text/javascript"), ("/console/js/pages/floor.js", "text/javascript"),
                           ("/console/css/console.css", "text/css"),
                           ("/console/vendor/uplot/uPlot.esm.js", "text/javascript")):
            r = client.get(path)
            assert r.status_code == 200 and r.headers["content-type"].startswith(kind), path
            policy = r.headers["content-security-policy"]
            assert "script-src 'self';" in policy and "unsafe" not in policy and "default-src 'none'" in policy
            assert "frame-ancestors 'none'" in policy and "connect-src 'self'" in policy
            assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "no-referrer"
        page = client.get("/console").text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "no inline script"
        assert "style=" not in page and "http:" not in page and "https:" not in page
        for path in ("/console/../routes.py", "/console/%2e%2e/routes.py", "/console/js", "/console/nope.js",
                     "/console/js/../../routes.py", "/console/vendor/uplot/LICENSE"):
            assert client.get(path).status_code == 404, path


def test_signing_out_ends_the_session_a_copy_of_its_cookie_too(served):
    """After DELETE /console/session, the cookie the browser held (and any copy of it) is refused; another session
    of the same token goes on."""
    svc, _ = served
    with httpx.Client(base_url=svc.base) as client:
        _, kept = sign_in(client, OPERATOR)
        _, left = sign_in(client, OPERATOR)
        assert client.get("/v1/cdr", headers=without_csrf(left)).status_code == 200
        assert client.delete("/console/session", headers=without_csrf(left)).status_code == 403  # CSRF first
        r = client.delete("/console/session", headers=left)
        assert r.status_code == 200 and "c2c_session=" in r.headers["set-cookie"]  # the browser's copy expired
        for ask in (lambda h: client.get("/v1/cdr", headers=h), lambda h: client.get("/console/session", headers=h),
                    lambda h: client.post("/v1/agent/101/pause", headers=h)):
            gone = ask(left)
            assert (gone.status_code, gone.json()["error"]) == (401, "UNAUTHORIZED"), gone.text
        assert client.get("/v1/cdr", headers=without_csrf(kept)).status_code == 200
