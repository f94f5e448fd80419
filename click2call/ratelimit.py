"""Per-token request rate limit (token bucket, pure) and the per-token cap on calls in progress."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from .errors import ApiError


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float


def take(bucket: Bucket | None, now: float, rate: float, burst: float) -> tuple[Bucket, float]:
    """Spend one request. Returns the new bucket and 0 when allowed, else the seconds until one is allowed."""
    if bucket is None:
        bucket = Bucket(burst, now)
    tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
    if tokens >= 1:
        return Bucket(tokens - 1, now), 0.0
    return Bucket(tokens, now), (1 - tokens) / rate


def key(token: str) -> str:
    """Limits are kept per token without keeping the token itself in memory dumps or logs."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class Limits:
    """The request rate per token, kept by each replica for the requests it receives (the cap of a token's calls in
    progress is the database's, across replicas: records.CallStore.create)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, Bucket] = {}

    def request(self, token: str, now: float) -> None:
        """Raise 429 RATE_LIMITED when this token sends click-to-calls faster than allowed."""
        if self.rate <= 0:
            return
        k = key(token)
        self._buckets[k], wait = take(self._buckets.get(k), now, self.rate, self.burst)
        if wait:
            raise ApiError("RATE_LIMITED", f"too many requests; retry in {wait:.1f} s",
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})
