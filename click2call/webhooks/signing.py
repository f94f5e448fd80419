"""Standard Webhooks signatures (https://www.standardwebhooks.com): what we send, and a verify helper for receivers.

    webhook-id:        the event's id, the same on every retry (receivers de-duplicate on it)
    webhook-timestamp: unix seconds of this attempt
    webhook-signature: "v1,<base64 HMAC-SHA256(key, f'{id}.{timestamp}.{body}')>", space-separated, one per
                       secret while secrets rotate

A secret is `whsec_<base64 key>`; the HMAC key is the decoded part.

Receiver side (copy this function, it needs only the standard library)::

    from click2call.signing import verify
    verify("whsec_...", request.headers, await request.body())   # raises InvalidSignature
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

PREFIX = "whsec_"
TOLERANCE = 5 * 60  # seconds a timestamp may be off, against replays


class InvalidSignature(ValueError):
    pass


def key(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret."""
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret looks like whsec_<base64>")
    try:
        return base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the part after whsec_ must be base64") from None


def signature(secret_key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret_key, signed, hashlib.sha256).digest()).decode()


def headers(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(key(s), msg_id, timestamp, body) for s in secrets),
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, *, tolerance: int = TOLERANCE,
           now: float | None = None) -> None:
    """Raise InvalidSignature unless one of the signatures is ours and the timestamp is fresh."""
    try:
        msg_id = received["webhook-id"]
        timestamp = int(received["webhook-timestamp"])
        offered = received["webhook-signature"].split()
    except (KeyError, ValueError):
        raise InvalidSignature("missing or malformed webhook headers") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise InvalidSignature("timestamp too old or too new")
    expected = signature(key(secret), msg_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise InvalidSignature("no matching signature")
