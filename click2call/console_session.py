"""The web console's session: a signed cookie standing for an API token, so the browser never holds the token.

The cookie is base64url(JSON {"tid": token id, "exp": epoch, "n": nonce}) "." base64url(HMAC-SHA256). The HMAC covers
the payload and the token's stored digest: a token given a new value under the same id ends its sessions, and a
removed token ends them because each request looks its id up again. The key is derived (HKDF) from the newest
C2C_SECRET_KEY, so every replica of a cluster accepts every session; without one, a random key of this process
(sessions end at its restart). The CSRF token is HMAC(key, "csrf" + nonce): a page reads it from the API (a cross-site
page cannot), and sends it back as X-CSRF-Token with each state-changing request."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.ext.asyncio import AsyncEngine

from .db import GroupCommit, console_signouts
from .tenants import Credential, Directory

log = logging.getLogger(__name__)
COOKIE = "c2c_session"
CSRF_HEADER = "X-CSRF-Token"
INFO = b"click2call console session"


@dataclass(frozen=True)
class Session:
    credential: Credential  # the token it stands for, as the directory knows it now
    digest: str  # the token's SHA-256 (hex): what rate limits and call caps are kept under, as for the token itself
    expires: float  # epoch seconds
    csrf: str
    nonce: str = ""  # names the session: signing out ends it on every replica (SignOuts)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_key(secret_keys: tuple[str, ...]) -> bytes:
    """The signing key: from the newest Fernet key (the same on every replica), else random for this process."""
    if not secret_keys:
        log.warning("no C2C_SECRET_KEY: console sessions are signed with a key of this process and end when it "
                    "stops (and another replica does not accept them)")
        return secrets.token_bytes(32)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(_unb64(secret_keys[0]))


class Sessions:
    def __init__(self, key: bytes, directory: Directory, hours: float, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._directory = directory
        self.lifetime = hours * 3600
        self._clock = clock

    def issue(self, credential: Credential, digest: str) -> tuple[str, Session]:
        """A new session of a token (its credential and digest, as Directory.identify found them): (cookie, session)."""
        expires = int(self._clock() + self.lifetime)
        nonce = secrets.token_urlsafe(16)
        payload = _b64(json.dumps({"tid": credential.id, "exp": expires, "n": nonce}, separators=(",", ":")).encode())
        cookie = f"{payload}.{self._sign(payload, digest)}"
        return cookie, Session(credential, digest, expires, self._csrf(nonce), nonce)

    def check(self, cookie: str) -> Session | None:
        """The live session a cookie holds; None when it is forged, expired or its token is gone."""
        payload, dot, signature = cookie.partition(".")
        try:
            fields = json.loads(_unb64(payload))
            token_id, expires, nonce = fields["tid"], fields["exp"], fields["n"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if not (dot and isinstance(token_id, str) and isinstance(expires, int) and isinstance(nonce, str)):
            return None
        found = self._directory.by_id(token_id)
        if found is None:  # checked against a fixed digest then: a missing token takes as long as a wrong signature
            hmac.compare_digest(signature, self._sign(payload, "0" * 64))
            return None
        digest, credential = found
        if not hmac.compare_digest(signature, self._sign(payload, digest)) or expires <= self._clock():
            return None
        return Session(credential, digest, expires, self._csrf(nonce), nonce)

    def _sign(self, payload: str, digest: str) -> str:
        return _b64(hmac.new(self._key, f"{payload}.{digest}".encode(), hashlib.sha256).digest())

    def _csrf(self, nonce: str) -> str:
        return _b64(hmac.new(self._key, f"csrf{nonce}".encode(), hashlib.sha256).digest())


def csrf_ok(session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), session.csrf.encode())


class SignOuts:
    """Sessions signed out of before their expiry. A cookie is signed, not stored, so a copy taken before the sign-out
    would stand until it expires: the session's nonce is kept here until then, and every replica refuses it."""

    def __init__(self, engine: AsyncEngine, write: GroupCommit, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.write = write
        self._clock = clock
        self._ended: set[str] = set()  # known here: not asked again

    async def end(self, session: Session) -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(console_signouts.delete().where(console_signouts.c.until < self._clock()))  # the expired
            found = conn.execute(sa.select(console_signouts.c.nonce).where(
                console_signouts.c.nonce == session.nonce)).first()
            if found is None:
                conn.execute(console_signouts.insert().values(nonce=session.nonce, until=session.expires))

        await self.write(work)
        self._ended.add(session.nonce)

    async def ended(self, session: Session) -> bool:
        if session.nonce in self._ended:
            return True
        async with self.engine.connect() as conn:
            found = (await conn.execute(sa.select(console_signouts.c.nonce).where(
                console_signouts.c.nonce == session.nonce))).first()
        if found is not None:
            self._ended.add(session.nonce)
        return found is not None
