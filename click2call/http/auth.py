"""Bearer-token check, constant time whichever token matches."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ..errors import ApiError


def require_token(request: Request, tokens: tuple[str, ...]) -> None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise ApiError("UNAUTHORIZED")
    given = presented.strip().encode()
    # Compare against every token, so timing reveals neither the token nor which one matched.
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token.encode())
    if not matched:
        raise ApiError("UNAUTHORIZED")
