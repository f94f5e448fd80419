"""Retry timing as pure functions (exponential backoff with jitter), shared by every retrying loop."""

from __future__ import annotations

import random


def delay(attempt: int, *, base: float = 0.2, cap: float = 10.0, rand: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based): full backoff with 50-100% jitter."""
    r = random.random() if rand is None else rand
    return min(cap, base * (2 ** min(attempt, 30))) * (0.5 + r / 2)
