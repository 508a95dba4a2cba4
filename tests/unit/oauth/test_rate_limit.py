"""Failure limiter (fake clock): only failures count, per client+address and per address, bounded, reserved before
the first await, shared across instances through a failure counter store."""

from __future__ import annotations

import asyncio

import pytest

from gateway.clock import FakeClock
from gateway.oauth import rate_limit
from gateway.oauth.errors import TooManyFailures
from gateway.oauth.rate_limit import FailureLimiter, shared_key
from gateway.stores.counters import FailureCounts
from gateway.stores.memory import MemoryFailureCounterStore


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


def test_eviction_drops_the_oldest_entry_never_the_attackers_own():
    clock = FakeClock()
    lim = limiter(clock, max_entries=3, limit_per_address=1000)
    lim.record_failure("old", "10.0.0.1")
    lim.record_failure("mid", "10.0.0.2")
    for _ in range(3):  # the attacker's entry is the newest each time it fails: it must survive eviction
        lim.record_failure("victim", "203.0.113.66")
        clock.advance(1)
    assert lim.retry_after("victim", "203.0.113.66") is not None
    # Flooding other keys evicts the oldest entries first; the attacker's lock stays until they are all gone.
    lim.record_failure("flood-1", "10.0.0.3")
    assert lim.retry_after("victim", "203.0.113.66") is not None
    for _ in range(2):  # "old" was evicted first: a fresh count for it starts at 1, it is not locked after 2
        lim.record_failure("old", "10.0.0.1")
    assert lim.retry_after("old", "10.0.0.1") is None


def test_a_locked_entry_is_not_forgotten_while_its_lock_holds():
    clock = FakeClock()
    lim = limiter(clock, window_seconds=60)
    for _ in range(3):
        lim.record_failure("c", "a")
    clock.advance(59)
    assert lim.retry_after("c", "a") == 1
    clock.advance(1)
    assert lim.retry_after("c", "a") is None
    lim.record_failure("c", "a")  # a new window: one failure, not locked
    assert lim.retry_after("c", "a") is None


async def test_reservations_count_against_the_limit_until_they_end():
    clock = FakeClock()
    lim = limiter(clock)
    attempts = [await lim.reserve("c", "a") for _ in range(3)]
    waiting = asyncio.ensure_future(lim.reserve("c", "a"))
    await asyncio.sleep(0)
    assert not waiting.done()  # three in flight fill the limit of three
    attempts[0].release()  # a success: the waiting attempt may go on
    fourth = await asyncio.wait_for(waiting, 1)
    for attempt in attempts[1:] + [fourth]:
        assert await attempt.failed() is None  # per worker only: no shared store in this limiter
    assert lim.retry_after("c", "a") == 60
    with pytest.raises(TooManyFailures):
        await lim.reserve("c", "a")


async def test_waiting_attempts_are_refused_once_the_attempts_in_flight_fail():
    clock = FakeClock()
    lim = limiter(clock)
    attempts = [await lim.reserve("c", "a") for _ in range(3)]
    waiting = [asyncio.ensure_future(lim.reserve("c", "a")) for _ in range(5)]
    await asyncio.sleep(0)
    for attempt in attempts:
        await attempt.failed()
    # Woken as soon as the attempts in flight fail (not after MAX_RESERVATION_WAIT_SECONDS).
    results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 2)
    assert all(isinstance(r, TooManyFailures) for r in results)


async def test_release_after_failure_and_double_release_count_once():
    clock = FakeClock()
    lim = limiter(clock)
    attempt = await lim.reserve("c", "a")
    await attempt.failed()
    attempt.release()
    attempt.release()
    for _ in range(2):
        await (await lim.reserve("c", "a")).failed()
    assert lim.retry_after("c", "a") == 60  # exactly three failures


async def test_the_shared_lock_out_is_remembered_locally_and_answers_over_the_limit():
    clock = FakeClock()
    shared = MemoryFailureCounterStore()
    mine, theirs = limiter(clock, shared=shared), limiter(clock, shared=shared)
    for _ in range(3):
        assert await (await theirs.reserve("c", "a")).failed() is None  # 401, 401, 401 (locked at the third)
    assert mine.retry_after("c", "a") is None  # this worker has not seen a failure yet
    assert await (await mine.reserve("c", "a")).failed() == 60  # the fourth fleet-wide: over the limit, 429
    with pytest.raises(TooManyFailures):
        await mine.reserve("c", "a")  # from now on refused unchecked, without asking the store
    clock.advance(60)
    assert mine.retry_after("c", "a") is None


async def test_the_per_address_limit_is_shared_too():
    clock = FakeClock()
    shared = MemoryFailureCounterStore()
    mine, theirs = limiter(clock, shared=shared), limiter(clock, shared=shared)
    for n in range(5):
        await (await theirs.reserve(f"c{n}", "a")).failed()
    assert await (await mine.reserve("fresh", "a")).failed() is not None
    assert mine.retry_after("other", "a") is not None
    assert mine.retry_after("other", "b") is None


class HungCounters(MemoryFailureCounterStore):
    async def record_failure(self, *args, **kwargs):
        await asyncio.sleep(3600)


async def test_a_hung_shared_store_delays_a_failure_by_at_most_the_timeout(monkeypatch):
    monkeypatch.setattr(rate_limit, "SHARED_STORE_TIMEOUT_SECONDS", 0.05)
    clock = FakeClock()
    lim = limiter(clock, shared=HungCounters())
    for _ in range(3):
        assert await asyncio.wait_for((await lim.reserve("c", "a")).failed(), 1) is None
    assert lim.retry_after("c", "a") == 60  # the worker's own limit still holds


def test_shared_keys_hash_the_client_and_address():
    key = shared_key("c", "teams-patients", "203.0.113.7")
    assert key.startswith("c-") and len(key) == 42
    assert "teams" not in key and "203" not in key
    assert key != shared_key("c", "teams-patients", "203.0.113.8") != shared_key("a", "teams-patients\x00203.0.113.7")


async def test_attempts_in_flight_from_one_address_count_against_the_address_limit_across_client_ids():
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=100, limit_per_address=5)
    attempts = [await lim.reserve(f"client-{n}", "a") for n in range(5)]
    waiting = asyncio.ensure_future(lim.reserve("client-99", "a"))
    other_address = await asyncio.wait_for(lim.reserve("client-99", "b"), 1)  # another address is not held up
    await asyncio.sleep(0)
    assert not waiting.done()
    for attempt in attempts:
        await attempt.failed()
    with pytest.raises(TooManyFailures):
        await waiting
    other_address.release()


async def test_successes_release_their_place_in_both_counters():
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=2, limit_per_address=2)
    for _ in range(10):
        attempt = await asyncio.wait_for(lim.reserve("c", "a"), 1)
        attempt.release()
    assert lim.retry_after("c", "a") is None


class FixedCounters(MemoryFailureCounterStore):
    """A shared store whose answer is given by the test (a fleet lock-out that ends sooner than ours)."""

    def __init__(self, answer) -> None:
        super().__init__()
        self.answer = answer

    async def record_failure(self, address_key, client_key, *, now, window_seconds, address_limit, client_limit):
        return FailureCounts(self.answer(now), self.answer(now))


async def test_a_shorter_fleet_lock_never_shortens_the_workers_own():
    from datetime import timedelta

    from gateway.stores.counters import FailureCount

    clock = FakeClock()
    counts = iter([1, 1, 2, 2, 9, 9])  # per address, then per (client, address), for each failure

    def answer(now):
        n = next(counts)
        return FailureCount(n, now, now + timedelta(seconds=5) if n == 9 else None)

    lim = limiter(clock, shared=FixedCounters(answer))
    for _ in range(3):
        await (await lim.reserve("c", "a")).failed()
    assert lim.retry_after("c", "a") == 60  # the worker's own lock (one window), not the fleet's 5 s


async def test_a_failure_cancelled_while_the_shared_store_answers_still_counts_and_frees_its_place(monkeypatch):
    clock = FakeClock()
    lim = limiter(clock, shared=HungCounters())
    for _ in range(3):
        attempt = await lim.reserve("c", "a")
        pending = asyncio.ensure_future(attempt.failed())
        await asyncio.sleep(0)
        pending.cancel()  # the caller went away
        with pytest.raises(asyncio.CancelledError):
            await pending
    assert lim.retry_after("c", "a") == 60  # three failures, none lost, none left in flight
    clock.advance(60)
    attempt = await asyncio.wait_for(lim.reserve("c", "a"), 1)
    attempt.release()
