import pytest

from click2call import ratelimit
from click2call.errors import ApiError


def test_bucket_allows_a_burst_then_the_rate():
    bucket, waits = None, []
    for _ in range(4):
        bucket, wait = ratelimit.take(bucket, 100.0, rate=2, burst=3)
        waits.append(wait)
    assert waits == [0, 0, 0, 0.5]  # three at once, the fourth in half a second at 2/s
    bucket, wait = ratelimit.take(bucket, 100.5, rate=2, burst=3)
    assert wait == 0
    bucket, wait = ratelimit.take(bucket, 1000.0, rate=2, burst=3)  # refills only up to the burst
    assert wait == 0 and bucket.tokens == 2


def test_limits_per_token_with_retry_after():
    limits = ratelimit.Limits(rate=1, burst=1)
    limits.request("a", 10.0)
    limits.request("b", 10.0)  # another token has its own bucket
    with pytest.raises(ApiError) as exc:
        limits.request("a", 10.2)
    assert (exc.value.status, exc.value.code, exc.value.headers) == (429, "RATE_LIMITED", {"Retry-After": "1"})
    ratelimit.Limits(rate=0, burst=1).request("a", 0)  # 0: no limit
