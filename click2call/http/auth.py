"""Bearer-token check, constant time whichever token matches."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ..errors import ApiError


def require_token(request: Request, tokens: tuple[str, ...]) -> str:
    """The Bearer token the request presented, if it is one of ours; else 401."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise ApiError("UNAUTHORIZED")
    given = presented.strip().encode()
    # Compare against every token, so timing reveals neither the token nor which one matched.
    found = ""
    for token in tokens:
        if hmac.compare_digest(given, token.encode()):
            found = token
    if not found:
        raise ApiError("UNAUTHORIZED")
    return found
