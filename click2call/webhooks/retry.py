"""When to send a webhook delivery again: the retry policy, pure.

Timeouts, connection errors, 429 and 5xx are retried with exponential backoff and jitter (honouring Retry-After)
for as long as the policy allows; other 4xx stop at once; 410 Gone disables the hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum

from .. import backoff


@dataclass(frozen=True)
class Policy:
    max_age: float = 24 * 3600  # keep retrying an event for this long
    base: float = 1.0  # first retry delay, doubling
    cap: float = 600.0  # longest wait between two attempts


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # after Outcome.delay
    FAILED = "failed"  # given up


@dataclass(frozen=True)
class Outcome:
    status: Verdict
    delay: float | None = None
    disable_hook: bool = False


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "¹".isdigit() too, and float() refuses it
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def decide(status_code: int | None, attempts: int, age: float, retry_after_s: float | None, policy: Policy,
           rand: float | None = None) -> Outcome:
    """What to do after an attempt. status_code None: timeout or connection error. attempts: made so far."""
    if status_code is not None and 200 <= status_code < 300:
        return Outcome(Verdict.DELIVERED)
    if status_code == 410:  # Gone: the receiver says this hook is dead
        return Outcome(Verdict.FAILED, disable_hook=True)
    retryable = status_code is None or status_code == 429 or status_code >= 500
    if not retryable:
        return Outcome(Verdict.FAILED)
    delay = backoff.delay(attempts - 1, base=policy.base, cap=policy.cap, rand=rand)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, policy.cap))
    if age + delay > policy.max_age:
        return Outcome(Verdict.FAILED)
    return Outcome(Verdict.RETRY, delay)
