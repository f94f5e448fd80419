"""Bearer-token check: which tenant is calling (constant time whichever token matches)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ..errors import ApiError
from ..ratelimit import key
from ..tenants import Directory, Tenant


@dataclass(frozen=True)
class Caller:
    tenant: Tenant
    key: str  # a digest of the token: what rate limits and call caps are kept under


def require_token(request: Request, directory: Directory) -> Caller:
    """The caller behind the request's Bearer token; else 401."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError("UNAUTHORIZED")
    token = presented.strip()
    tenant = directory.authenticate(token)
    if tenant is None:
        raise ApiError("UNAUTHORIZED")
    return Caller(tenant, key(token))
