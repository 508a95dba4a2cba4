"""Failure limiter windows (fake clock): only failures count, per client+address and per address, bounded."""

from __future__ import annotations

from gateway.clock import FakeClock
from gateway.oauth.rate_limit import FailureLimiter


def limiter(clock: FakeClock, **kw) -> FailureLimiter:
    args = {"limit_per_client": 3, "limit_per_address": 5, "window_seconds": 60, "clock": clock, **kw}
    return FailureLimiter(**args)


def test_locks_after_the_limit_for_one_window():
    clock = FakeClock()
    lim = limiter(clock)
    for _ in range(2):
        lim.record_failure("c", "a")
    assert lim.retry_after("c", "a") is None
    lim.record_failure("c", "a")
    assert lim.retry_after("c", "a") == 60
    clock.advance(59.5)
    assert lim.retry_after("c", "a") == 1
    clock.advance(1)
    assert lim.retry_after("c", "a") is None


def test_failures_spread_over_windows_never_lock():
    clock = FakeClock()
    lim = limiter(clock)
    for _ in range(10):
        lim.record_failure("c", "a")
        lim.record_failure("c", "a")
        clock.advance(61)
    assert lim.retry_after("c", "a") is None


def test_lock_is_per_client_and_address():
    clock = FakeClock()
    lim = limiter(clock)
    for _ in range(3):
        lim.record_failure("c", "attacker")
    assert lim.retry_after("c", "attacker") is not None
    assert lim.retry_after("c", "legit") is None
    assert lim.retry_after("other", "attacker") is None


def test_per_address_limit_across_client_ids():
    clock = FakeClock()
    lim = limiter(clock)
    for n in range(5):
        lim.record_failure(f"c{n}", "a")
    assert lim.retry_after("fresh", "a") is not None
    assert lim.retry_after("fresh", "b") is None


def test_memory_is_bounded():
    clock = FakeClock()
    lim = limiter(clock, max_entries=100)
    for n in range(1000):
        lim.record_failure(f"c{n}", f"10.0.{n // 256}.{n % 256}")
    assert len(lim) <= 200


def test_source_address_is_the_hop_the_front_end_appended():
    from gateway.http import Headers, Request
    from gateway.oauth.rate_limit import source_address

    def req(xff: str | None) -> Request:
        return Request("POST", "http://x/oauth2/token", Headers({"X-Forwarded-For": xff} if xff else {}))

    assert source_address(req("198.51.100.1, 203.0.113.7:5000")) == "203.0.113.7"
    assert source_address(req("203.0.113.7:5000")) == "203.0.113.7"
    assert source_address(req("[2001:db8::1]:443")) == "2001:db8::1"
    assert source_address(req("2001:db8::2")) == "2001:db8::2"
    assert source_address(req(None)) == "unknown"
