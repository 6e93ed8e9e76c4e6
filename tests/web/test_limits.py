"""The per-key token bucket, with a clock the test moves."""

from __future__ import annotations

from dexacode.web.limits import RateLimiter, SizeLimits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_minutes_allowance_then_one_call_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    assert [limiter.take("a") for _ in range(60)] == [0] * 60
    assert limiter.take("a") == 1  # empty: wait a second
    clock.now += 0.9
    assert limiter.take("a") >= 1  # not yet a whole call back
    clock.now += 0.2
    assert limiter.take("a") == 0
    assert limiter.take("b") == 0  # another key has its own bucket


def test_the_bucket_never_holds_more_than_a_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(10, clock=clock)
    clock.now += 3600
    assert [limiter.take("a") for _ in range(11)] == [0] * 10 + [6]


def test_zero_means_no_limit() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.take("a") == 0 for _ in range(10_000))


def test_size_limits_by_route() -> None:
    limits = SizeLimits(code=10, upload=1000, other=5)
    assert limits.for_path("/v1/code") == 10
    assert limits.for_path("/v1/scrub") == 1000
    assert limits.for_path("/login") == 5
