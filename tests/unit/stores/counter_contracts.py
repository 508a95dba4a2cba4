"""Contract suite of FailureCounterStore (``gateway.stores.protocols``, rule in ``gateway.stores.counters``).

Subclass :class:`FailureCounterStoreContract` as ``Test...`` and provide two fixtures: ``counters`` (the
store) and ``peer`` (a second instance on the same backing data, as another worker or host would open it;
for the in-memory twin, the same object). The in-memory twin runs it in tests/unit/stores/test_memory.py,
the Table Storage store on Azurite in tests/integration/test_failure_counters.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.unit.stores.contracts import T0, is_utc

KEY = "c-0123456789abcdef0123456789abcdef01234567"
OTHER = "a-0123456789abcdef0123456789abcdef01234567"
LIMIT, WINDOW = 3, 60


class FailureCounterStoreContract:
    async def fail(self, store, key: str = KEY, at=T0, limit: int = LIMIT):
        return await store.record_failure(key, now=at, limit=limit, window_seconds=WINDOW)

    async def test_first_failure_starts_a_window(self, counters):
        assert await counters.get(KEY, now=T0, window_seconds=WINDOW) is None
        first = await self.fail(counters)
        assert (first.count, first.window_start, first.locked_until) == (1, T0, None)
        stored = await counters.get(KEY, now=T0, window_seconds=WINDOW)
        assert stored == first and is_utc(stored.window_start)

    async def test_reaching_the_limit_locks_for_one_window_from_that_failure(self, counters):
        await self.fail(counters)
        second = await self.fail(counters, at=T0 + timedelta(seconds=10))
        assert second.count == 2 and second.locked_until is None
        locked = await self.fail(counters, at=T0 + timedelta(seconds=10))
        assert locked.locked_at(T0 + timedelta(seconds=10))
        third = await counters.get(KEY, now=T0 + timedelta(seconds=11), window_seconds=WINDOW)
        assert third.count == LIMIT and third.window_start == T0
        assert third.locked_until == T0 + timedelta(seconds=10 + WINDOW) and is_utc(third.locked_until)

    async def test_failures_while_locked_count_but_never_extend_the_lock(self, counters):
        for _ in range(LIMIT):
            await self.fail(counters)
        later = await self.fail(counters, at=T0 + timedelta(seconds=59))
        assert later.count == LIMIT + 1 and later.locked_until == T0 + timedelta(seconds=WINDOW)
        # Past the window but still locked: the counter goes on, it does not restart.
        still = await self.fail(counters, at=T0 + timedelta(seconds=WINDOW - 1))
        assert still.count == LIMIT + 2 and still.locked_at(T0 + timedelta(seconds=WINDOW - 1))

    async def test_a_window_that_passed_without_a_lock_starts_again(self, counters):
        await self.fail(counters)
        await self.fail(counters)
        after = T0 + timedelta(seconds=WINDOW)
        assert await counters.get(KEY, now=after, window_seconds=WINDOW) is None  # expired
        assert await counters.get(KEY, now=after - timedelta(microseconds=1), window_seconds=WINDOW) is not None
        fresh = await self.fail(counters, at=after)
        assert (fresh.count, fresh.window_start, fresh.locked_until) == (1, after, None)

    async def test_an_expired_lock_starts_again(self, counters):
        for _ in range(LIMIT):
            await self.fail(counters)
        assert await counters.get(KEY, now=T0 + timedelta(seconds=WINDOW - 1), window_seconds=WINDOW) is not None
        fresh = await self.fail(counters, at=T0 + timedelta(seconds=WINDOW))
        assert (fresh.count, fresh.locked_until) == (1, None)

    async def test_keys_are_independent(self, counters):
        for _ in range(LIMIT):
            await self.fail(counters)
        other = await self.fail(counters, key=OTHER)
        assert (other.count, other.locked_until) == (1, None)

    async def test_concurrent_failures_from_two_instances_each_count_exactly_once(self, counters, peer):
        results = await asyncio.gather(*(self.fail(store, limit=10) for store in [counters, peer] * 10))
        assert sorted(r.count for r in results) == list(range(1, 21))
        assert sum(1 for r in results if r.count == 10) == 1
        final = await peer.get(KEY, now=T0, window_seconds=WINDOW)
        assert final.count == 20 and final.locked_until == T0 + timedelta(seconds=WINDOW)

    @pytest.mark.parametrize("key", ["", "a/b", "a#b", "a?b", "a\\b", "a\x00b", "k" * 600])
    async def test_an_invalid_key_is_refused_and_never_found(self, counters, key):
        with pytest.raises(ValueError):
            await self.fail(counters, key=key)
        assert await counters.get(key, now=T0, window_seconds=WINDOW) is None

    async def test_purge_deletes_only_counters_whose_window_and_lock_have_surely_passed(self, counters, peer):
        for _ in range(LIMIT):
            await self.fail(counters)  # KEY: window from T0, locked until T0 + WINDOW
        await self.fail(counters, key=OTHER, at=T0 + timedelta(seconds=WINDOW))  # OTHER: window from T0 + WINDOW
        two_windows = T0 + timedelta(seconds=2 * WINDOW)
        assert await peer.purge_expired(now=two_windows - timedelta(seconds=1), window_seconds=WINDOW) == 0
        assert await peer.purge_expired(now=two_windows, window_seconds=WINDOW) == 1
        kept = await counters.get(OTHER, now=two_windows - timedelta(seconds=1), window_seconds=WINDOW)
        assert kept is not None and kept.count == 1  # its window had not passed by two windows: kept
        fresh = await self.fail(counters, at=two_windows)  # the purged key starts again at 1
        assert (fresh.count, fresh.window_start, fresh.locked_until) == (1, two_windows, None)
        assert await peer.purge_expired(now=two_windows, window_seconds=WINDOW) == 0

    async def test_purge_honours_its_limit(self, counters):
        keys = [f"a-{index:040x}" for index in range(3)]
        for key in keys:
            await self.fail(counters, key=key)
        later = T0 + timedelta(seconds=2 * WINDOW)
        assert await counters.purge_expired(now=later, window_seconds=WINDOW, limit=2) == 2
        assert await counters.purge_expired(now=later, window_seconds=WINDOW, limit=10) == 1
