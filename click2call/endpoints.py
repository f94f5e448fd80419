"""An extension as Asterisk sees it on a node (GET /endpoints/PJSIP/{ext}): exists, registered, free. What a
click-to-call checks before ringing the agent, and call control before ringing a supervisor or transfer target."""

from __future__ import annotations

from .errors import ApiError
from .stasis_app.ari import Ari, AriError, AriUnavailable


async def endpoint(ari: Ari, ext: str) -> dict | None:
    """The PJSIP endpoint as Asterisk sees it; None when it has none of that name."""
    try:
        return await ari.request("GET", f"/endpoints/PJSIP/{ext}")
    except AriUnavailable:
        raise
    except AriError as exc:
        if exc.status == 404:
            return None
        raise ApiError("CALL_FAILED", exc.message) from None


def idle(found: dict, ext: str, ours: str = "") -> None:
    """USER_BUSY when the extension has a channel (other than those whose id starts with `ours`)."""
    if any(not (ours and channel.startswith(ours)) for channel in found.get("channel_ids", ())):
        raise ApiError("USER_BUSY", f"extension {ext} is on a call")


async def check_extension(ari: Ari, ext: str, ours: str = "") -> None:
    """Exists, registered and free (a channel of ours, `ours...`, does not make it busy); ApiError otherwise."""
    try:
        found = await endpoint(ari, ext)
    except AriUnavailable:
        raise ApiError("SERVICE_UNAVAILABLE") from None
    if found is None:
        raise ApiError("EXTENSION_NOT_FOUND", f"extension {ext} does not exist")
    if found.get("state") != "online":
        raise ApiError("USER_NOT_REGISTERED")
    idle(found, ext, ours)
