from __future__ import annotations

from shared.ratelimit import RateLimiter


def test_burst_then_refuses_with_a_retry_after() -> None:
    limiter = RateLimiter(rate=1, burst=3)
    assert [limiter.allow("ip") for _ in range(4)] == [True, True, True, False]
    assert 0 < limiter.retry_after("ip") <= 1
    assert limiter.allow("other-ip")


def test_key_memory_is_bounded() -> None:
    limiter = RateLimiter(rate=1000, burst=1, max_keys=100)
    for n in range(1000):
        limiter.allow(f"k{n}")
    assert len(limiter._buckets) <= 100
