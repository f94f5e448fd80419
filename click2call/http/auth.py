"""Who is calling: a Bearer token (constant time whichever token matches), or a web console's session cookie standing
for one (console_session.py); either way its tenant and its scopes."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ..console_session import COOKIE, CSRF_HEADER, Session, Sessions, csrf_ok
from ..errors import ApiError
from ..ratelimit import key
from ..states import Scope
from ..tenants import Directory, Tenant

READING = ("GET", "HEAD")  # what a session's cookie may do without its CSRF token


@dataclass(frozen=True)
class Caller:
    tenant: Tenant  # an agent token's: narrowed to its extension (Tenant.agent)
    key: str  # a digest of the token: what rate limits and call caps are kept under
    token_id: str = ""  # the token's id: what the audit trail and logs name (never the token)
    scopes: frozenset[Scope] = frozenset(Scope)
    session: Session | None = None  # came with a console session's cookie, not the token itself

    def require(self, scope: Scope) -> None:
        """403 SCOPE_REQUIRED, naming the scope, when the token lacks it."""
        if scope not in self.scopes:
            raise ApiError("SCOPE_REQUIRED", f"this token lacks the scope {scope}")

    def require_csrf(self, request: Request, changes: bool = False) -> None:
        """403 CSRF_REQUIRED: a session's state change (any method but GET and HEAD; `changes`: a GET that changes
        state, TEL4VN's click-to-call) without its CSRF token: a cross-site form or script may get the browser to send
        the cookie, never the header. Checked once the caller is known, so the refusal is in the audit trail."""
        if self.session is not None and (changes or request.method not in READING) and \
                not csrf_ok(self.session, request.headers.get(CSRF_HEADER)):
            raise ApiError("CSRF_REQUIRED", f"a console session's change needs its {CSRF_HEADER} header")


def require_token(request: Request, directory: Directory, sessions: Sessions | None = None) -> Caller:
    """The caller behind the request's Bearer token, else behind its session cookie (no Authorization header);
    else 401."""
    header = request.headers.get("authorization")
    if header is None and sessions is not None and (cookie := request.cookies.get(COOKIE)):
        session = sessions.check(cookie)
        if session is None:
            raise ApiError("UNAUTHORIZED", "the console session has ended: sign in again")
        found = session.credential
        return Caller(found.tenant, session.digest[:32], found.id, found.scopes, session)
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError("UNAUTHORIZED")
    token = presented.strip()
    found = directory.identify(token)
    if found is None:
        raise ApiError("UNAUTHORIZED")
    return Caller(found.tenant, key(token), found.id, found.scopes)
