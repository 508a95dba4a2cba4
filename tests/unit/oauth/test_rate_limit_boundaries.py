"""The failure limiter, exactly: where the fleet-wide counters live (hashed, one per client and address and one
per address), that ending an attempt frees exactly its own place, that a failure counted without a reservation
frees none, and that a shared-store outage is logged for the operator.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.clock import FakeClock
from gateway.oauth import rate_limit
from gateway.oauth.errors import TooManyFailures
from gateway.oauth.rate_limit import FailureLimiter, client_key, shared_key
from gateway.stores.memory import MemoryFailureCounterStore


def limiter(clock: FakeClock, **kw) -> FailureLimiter:
    args = {"limit_per_client": 3, "limit_per_address": 5, "window_seconds": 60, "clock": clock, **kw}
    return FailureLimiter(**args)


async def waits(limiter_: FailureLimiter, client_id: str, address: str) -> bool:
    """True when a new attempt must wait for the attempts in flight (it has no room yet)."""
    try:
        attempt = await asyncio.wait_for(limiter_.reserve(client_id, address), 0.05)
    except TimeoutError:
        return True
    attempt.release()
    return False


async def test_the_fleet_counts_each_client_and_address_and_each_address_under_hashed_keys():
    clock = FakeClock()
    shared = MemoryFailureCounterStore()
    lim = limiter(clock, shared=shared)
    await (await lim.reserve("teams-patients", "203.0.113.7")).failed()
    row = shared.row(shared_key("a", "203.0.113.7"), now=clock.now(), window_seconds=60)
    assert row == {"": 1, client_key("teams-patients"): 1}
    stored = " ".join(key for window, address in shared._rows for key in (address, *shared._rows[window, address]))  # noqa: SLF001
    assert "teams" not in stored and "203.0.113" not in stored


async def test_a_failure_of_an_unknown_client_id_counts_against_the_address_only():
    clock = FakeClock()
    shared = MemoryFailureCounterStore()
    lim = limiter(clock, shared=shared)
    for n in range(3):
        await (await lim.reserve(f"invented-{n}", "198.51.100.1")).failed(known_client=False)
    assert shared.row(shared_key("a", "198.51.100.1"), now=clock.now(), window_seconds=60) == {"": 3}


async def test_clients_and_addresses_are_counted_apart_across_instances():
    """An attacker's failures from one address never lock the client out from another, nor another client out."""
    clock = FakeClock()
    shared = MemoryFailureCounterStore()
    one, two = limiter(clock, shared=shared), limiter(clock, shared=shared)
    for lim, client_id, address in [(one, "x", "a"), (two, "x", "a"), (one, "x", "b"), (two, "x", "b"),
                                    (one, "y", "c"), (two, "z", "c")]:
        assert await (await lim.reserve(client_id, address)).failed() is None
    fresh = limiter(clock, shared=shared)
    for client_id, address in [("x", "a"), ("x", "b"), ("y", "c")]:
        assert await (await fresh.reserve(client_id, address)).failed() is None  # the third of each: 401


async def test_a_client_id_that_is_not_valid_unicode_is_still_counted():
    clock = FakeClock()
    shared = MemoryFailureCounterStore()
    lim = limiter(clock, shared=shared)
    for _ in range(3):
        await (await lim.reserve("\ud800", "a")).failed()
    assert lim.retry_after("\ud800", "a") == 60
    assert shared.row(shared_key("a", "a"), now=clock.now(), window_seconds=60)[client_key("\ud800")] == 3


async def test_the_per_address_limit_holds_across_client_ids_through_attempts():
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=100)
    for n in range(5):
        await (await lim.reserve(f"client-{n}", "attacker")).failed()
    with pytest.raises(TooManyFailures):
        await lim.reserve("client-new", "attacker")
    (await lim.reserve("client-new", "elsewhere")).release()


async def test_ending_an_attempt_twice_frees_only_its_own_place():
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=2)
    first, _second = await lim.reserve("c", "a"), await lim.reserve("c", "a")
    first.release()
    first.release()
    third = await lim.reserve("c", "a")
    assert await waits(lim, "c", "a")  # _second and third are in flight: the limit of two is full
    third.release()


async def test_a_failed_attempt_released_afterwards_frees_no_other_place():
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=2)
    first, _second = await lim.reserve("c", "a"), await lim.reserve("c", "a")
    await first.failed()
    first.release()
    with pytest.raises(RuntimeError):
        await first.failed()
    assert await waits(lim, "c", "a")  # one failure and _second in flight fill the limit of two


async def test_a_failure_without_a_reservation_leaves_the_attempts_in_flight_counted():
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=2)
    _in_flight = await lim.reserve("c", "a")
    lim.record_failure("c", "a")
    assert await waits(lim, "c", "a")


class DownCounters(MemoryFailureCounterStore):
    available = False


async def test_a_shared_store_outage_is_logged_and_the_workers_limits_hold(caplog):
    clock = FakeClock()
    lim = limiter(clock, shared=DownCounters())
    with caplog.at_level(logging.WARNING, logger="gateway.oauth"):
        for _ in range(3):
            assert await (await lim.reserve("c", "a")).failed() is None
    assert lim.retry_after("c", "a") == 60
    assert "shared failure counters unavailable (StoreUnavailable); per-worker limits only" in caplog.messages


def _retry_after(refusal: TooManyFailures) -> str:
    return refusal.headers()["Retry-After"]


async def test_an_address_over_its_limit_is_refused_at_once_for_the_whole_window():
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=100)
    for n in range(5):
        await (await lim.reserve(f"client-{n}", "attacker")).failed()
    with pytest.raises(TooManyFailures) as raised:
        await asyncio.wait_for(lim.reserve("client-new", "attacker"), 1)
    assert _retry_after(raised.value) == "60"


async def test_a_failure_without_a_reservation_leaves_the_address_attempts_in_flight_counted():
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=100, limit_per_address=2)
    _in_flight = await lim.reserve("c1", "a")
    lim.record_failure("c2", "a")
    assert await waits(lim, "c3", "a")


async def test_an_attempt_whose_counter_was_forgotten_still_ends_cleanly():
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=2, limit_per_address=100, max_entries=1)
    first = await lim.reserve("c", "a")
    (await lim.reserve("d", "b")).release()  # the only entry kept is now (d, b): (c, a) is forgotten
    lim.record_failure("c", "a")  # (c, a) again: one failure, nothing in flight
    first.release()  # ends an attempt this counter never held: it frees nothing
    _second = await lim.reserve("c", "a")
    assert await waits(lim, "c", "a")  # one failure and one in flight fill the limit of two


async def test_a_window_ending_while_an_attempt_is_in_flight_starts_a_fresh_count():
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=3)
    await (await lim.reserve("c", "a")).failed()
    clock.advance(59)
    first, second = await lim.reserve("c", "a"), await lim.reserve("c", "a")
    clock.advance(1)  # exactly one window after the first failure
    await first.failed()
    await second.failed()
    assert lim.retry_after("c", "a") is None  # two failures in the new window, not three


async def test_the_memory_keeps_exactly_as_many_entries_as_its_bound():
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=1, limit_per_address=100, max_entries=2)
    lim.record_failure("one", "a")
    lim.record_failure("two", "b")
    assert lim.retry_after("one", "a") == 60 and lim.retry_after("two", "b") == 60
    assert len(lim) == 4  # two per-client and two per-address entries


async def test_an_attempt_that_waits_too_long_for_those_in_flight_is_told_to_retry_in_a_second(monkeypatch):
    monkeypatch.setattr(rate_limit, "MAX_RESERVATION_WAIT_SECONDS", 0.05)
    clock = FakeClock()
    lim = limiter(clock, limit_per_client=1)
    _in_flight = await lim.reserve("c", "a")
    with pytest.raises(TooManyFailures) as raised:
        await asyncio.wait_for(lim.reserve("c", "a"), 0.5)
    assert _retry_after(raised.value) == "1"
