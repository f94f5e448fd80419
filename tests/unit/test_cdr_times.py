"""The CDR's times ("%Y-%m-%d %H:%M:%S" in the service's zone) equal what datetime writes, in zones with DST, half-
and quarter-hour offsets, across their changes and over two centuries."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from click2call.cdr import fmt_time

ZONES = ["Asia/Ho_Chi_Minh", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns",
         "Pacific/Chatham", "UTC"]


@pytest.mark.parametrize("zone", ZONES)
def test_fmt_time_is_datetimes_text(zone):
    tz = ZoneInfo(zone)
    rnd = random.Random(zone)
    moments = [rnd.uniform(-1e9, 4e9) for _ in range(20000)] + [rnd.uniform(1.7e9, 1.8e9) for _ in range(20000)]
    moments += [1_774_746_000 + d for d in range(-3, 4)] + [0, 0.999, -0.5, 1e9 + 0.9999999]  # a change; edges
    for at in moments:
        assert fmt_time(at, tz) == datetime.fromtimestamp(at, tz).isoformat(" ", "seconds")[:19], at
    assert fmt_time(None, tz) == ""
