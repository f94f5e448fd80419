"""Bearer-token check: which token is calling (constant time whichever token matches), its tenant and its scopes."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ..errors import ApiError
from ..ratelimit import key
from ..states import Scope
from ..tenants import Directory, Tenant


@dataclass(frozen=True)
class Caller:
    tenant: Tenant  # an agent token's: narrowed to its extension (Tenant.agent)
    key: str  # a digest of the token: what rate limits and call caps are kept under
    token_id: str = ""  # the token's id: what the audit trail and logs name (never the token)
    scopes: frozenset[Scope] = frozenset(Scope)

    def require(self, scope: Scope) -> None:
        """403 SCOPE_REQUIRED, naming the scope, when the token lacks it."""
        if scope not in self.scopes:
            raise ApiError("SCOPE_REQUIRED", f"this token lacks the scope {scope}")


def require_token(request: Request, directory: Directory) -> Caller:
    """The caller behind the request's Bearer token; else 401."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError("UNAUTHORIZED")
    token = presented.strip()
    found = directory.identify(token)
    if found is None:
        raise ApiError("UNAUTHORIZED")
    return Caller(found.tenant, key(token), found.id, found.scopes)
