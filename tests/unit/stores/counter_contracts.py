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

from gateway.stores.counters import MAX_CLIENTS_PER_ROW
from tests.unit.stores.contracts import T0, is_utc

ADDRESS = "a-0123456789abcdef0123456789abcdef01234567"
OTHER = "a-fedcba9876543210fedcba9876543210fedcba98"
CLIENT = "0123456789abcdef0123"
CLIENT_LIMIT, ADDRESS_LIMIT, WINDOW = 3, 5, 60
START = T0 - timedelta(seconds=T0.timestamp() % WINDOW)  # the window T0 falls in
END = START + timedelta(seconds=WINDOW)


class FailureCounterStoreContract:
    async def fail(self, store, address: str = ADDRESS, client: str | None = CLIENT, at=T0,
                   address_limit: int = ADDRESS_LIMIT):
        return await store.record_failure(address, client, now=at, window_seconds=WINDOW,
                                          address_limit=address_limit, client_limit=CLIENT_LIMIT)

    async def test_a_failure_counts_for_the_address_and_the_client_in_a_fixed_window(self, counters):
        first = await self.fail(counters)
        assert (first.address.count, first.address.window_start, first.address.locked_until) == (1, START, None)
        assert (first.client.count, first.client.window_start, first.client.locked_until) == (1, START, None)
        assert is_utc(first.address.window_start)

    async def test_an_unknown_client_counts_against_the_address_only(self, counters):
        for n in range(3):
            counts = await self.fail(counters, client=None)
            assert counts.client is None and counts.address.count == n + 1
        assert (await self.fail(counters)).client.count == 1

    async def test_reaching_a_limit_locks_the_key_until_the_window_ends(self, counters):
        for n in range(CLIENT_LIMIT - 1):
            assert (await self.fail(counters)).client.locked_until is None
        locked = await self.fail(counters, at=T0 + timedelta(seconds=1))
        assert locked.client.count == CLIENT_LIMIT and locked.client.locked_until == END
        assert locked.address.locked_until is None  # the address has room still
        for _ in range(ADDRESS_LIMIT - CLIENT_LIMIT):
            counts = await self.fail(counters, client=None)
        assert counts.address.count == ADDRESS_LIMIT and counts.address.locked_until == END
        assert counts.address.locked_at(END - timedelta(microseconds=1)) and not counts.address.locked_at(END)

    async def test_the_next_window_starts_again(self, counters):
        for _ in range(CLIENT_LIMIT):
            await self.fail(counters)
        fresh = await self.fail(counters, at=END)
        assert (fresh.address.count, fresh.client.count, fresh.client.locked_until) == (1, 1, None)
        assert fresh.address.window_start == END

    async def test_addresses_and_clients_are_independent(self, counters):
        for _ in range(CLIENT_LIMIT):
            await self.fail(counters)
        assert (await self.fail(counters, address=OTHER)).client.count == 1
        other_client = await self.fail(counters, client="fedcba98765432100000")
        assert other_client.client.count == 1 and other_client.address.count == CLIENT_LIMIT + 1

    async def test_a_row_keeps_a_bounded_number_of_clients(self, counters):
        for n in range(MAX_CLIENTS_PER_ROW + 5):
            counts = await self.fail(counters, client=f"{n:020d}", address_limit=10_000)
        assert counts.client is None and counts.address.count == MAX_CLIENTS_PER_ROW + 5
        assert (await self.fail(counters, client=f"{0:020d}", address_limit=10_000)).client.count == 2

    async def test_concurrent_failures_from_two_instances_each_count_exactly_once(self, counters, peer):
        results = await asyncio.gather(*(self.fail(store, address_limit=10) for store in [counters, peer] * 10))
        assert sorted(r.address.count for r in results) == list(range(1, 21))
        assert sorted(r.client.count for r in results) == list(range(1, 21))
        assert sum(1 for r in results if r.address.count == 10) == 1

    @pytest.mark.parametrize("key", ["", "a/b", "a#b", "a?b", "a\\b", "a\x00b", "k" * 600])
    async def test_an_invalid_key_is_refused(self, counters, key):
        with pytest.raises(ValueError):
            await self.fail(counters, address=key)

    async def test_purge_deletes_the_windows_before_the_previous_one(self, counters, peer):
        await self.fail(counters)
        await self.fail(counters, address=OTHER, at=END)
        assert await peer.purge_expired(now=END + timedelta(seconds=WINDOW - 1), window_seconds=WINDOW) == 0
        assert await peer.purge_expired(now=END + timedelta(seconds=WINDOW), window_seconds=WINDOW) == 1
        kept = await self.fail(counters, address=OTHER, at=END + timedelta(seconds=WINDOW - 1))
        assert kept.address.count == 2
        assert await peer.purge_expired(now=END + timedelta(seconds=WINDOW), window_seconds=WINDOW) == 0

    async def test_purge_honours_its_limit(self, counters):
        for index in range(3):
            await self.fail(counters, address=f"a-{index:040x}")
        later = T0 + timedelta(seconds=3 * WINDOW)
        assert await counters.purge_expired(now=later, window_seconds=WINDOW, limit=2) == 2
        assert await counters.purge_expired(now=later, window_seconds=WINDOW, limit=10) == 1
