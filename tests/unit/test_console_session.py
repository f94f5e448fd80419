"""The console's session cookie (console_session.py): what it lets through and what it refuses, with a fake clock."""

from __future__ import annotations

import base64
import json

from click2call.console_session import Sessions, csrf_ok, derive_key
from click2call.secret_box import new_key
from click2call.tenants import Directory, Tenant, TokenSpec, hash_token

TOKEN = "acme-console-0123456789"


def directory(token: str = TOKEN, id: str = "crm") -> Directory:
    acme = Tenant("acme", ())
    return Directory((), Tenant(None, ()), ((acme, (TokenSpec.of(token, id, ["calls:read"]),)),))


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def signed_in(sessions: Sessions, found: Directory, token: str = TOKEN):
    credential = found.identify(token)
    return sessions.issue(credential, hash_token(token).removeprefix("sha256:"))


def test_a_session_stands_for_its_token_until_it_expires():
    clock = Clock()
    found = directory()
    sessions = Sessions(derive_key((new_key(),)), found, hours=12, clock=clock)
    cookie, issued = signed_in(sessions, found)
    session = sessions.check(cookie)
    assert session is not None and session.credential.id == "crm" and session.credential.tenant.name == "acme"
    assert session.csrf == issued.csrf and csrf_ok(session, issued.csrf) and not csrf_ok(session, None)
    assert not csrf_ok(session, issued.csrf[:-1] + ("A" if issued.csrf[-1] != "A" else "B"))
    payload = json.loads(base64.urlsafe_b64decode(cookie.split(".")[0] + "=="))
    assert set(payload) == {"tid", "exp", "n"} and payload["exp"] == clock.now + 12 * 3600
    assert TOKEN not in cookie and hash_token(TOKEN) not in cookie
    clock.now += 12 * 3600 - 1
    assert sessions.check(cookie) is not None
    clock.now += 1
    assert sessions.check(cookie) is None


def test_a_forged_or_tampered_cookie_is_refused():
    found = directory()
    sessions = Sessions(derive_key((new_key(),)), found, hours=12)
    cookie, _ = signed_in(sessions, found)
    payload, signature = cookie.split(".")
    longer = base64.urlsafe_b64encode(json.dumps({**json.loads(base64.urlsafe_b64decode(payload + "==")),
                                                  "exp": 4_000_000_000}).encode()).decode().rstrip("=")
    for bad in (f"{longer}.{signature}", f"{payload}.{signature[:-2]}xx", payload, f"{payload}.", "", "x.y",
                "e30.AAAA", f"{payload}.{signature}.extra"):
        assert sessions.check(bad) is None, bad
    other = Sessions(derive_key((new_key(),)), found, hours=12)  # another service's key
    assert other.check(cookie) is None


def test_every_replica_with_the_same_key_accepts_it_and_a_changed_or_removed_token_ends_it():
    key = new_key()
    found = directory()
    cookie, _ = signed_in(Sessions(derive_key((key,)), found, hours=1), found)
    assert Sessions(derive_key((key, new_key())), directory(), hours=1).check(cookie) is not None
    assert Sessions(derive_key((key,)), directory(id="other"), hours=1).check(cookie) is None  # removed
    assert Sessions(derive_key((key,)), directory(token="acme-new-value-0123456789"), hours=1).check(cookie) is None
    assert Sessions(derive_key(()), found, hours=1).check(cookie) is None  # no key: this process's own
