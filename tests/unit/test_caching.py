"""TtlCache: fresh hits, expiry, stale-if-error, single flight."""

import asyncio

import pytest

from gateway.caching import TtlCache
from gateway.clock import FakeClock
from gateway.stores.errors import StoreUnavailable


class Loader:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.value = "v1"

    async def __call__(self, key: str) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if self.fail:
            raise StoreUnavailable("down")
        return f"{key}:{self.value}"


async def test_fresh_entries_do_not_reload_and_expired_ones_do():
    clock, loader = FakeClock(), Loader()
    cache = TtlCache(loader, ttl=60, clock=clock)
    assert await cache.get("a") == "a:v1"
    loader.value = "v2"
    clock.advance(59)
    assert await cache.get("a") == "a:v1"
    assert loader.calls == 1
    clock.advance(2)
    assert await cache.get("a") == "a:v2"
    assert loader.calls == 2


async def test_stale_entry_serves_while_the_store_is_down_then_gives_up():
    clock, loader = FakeClock(), Loader()
    cache = TtlCache(loader, ttl=10, stale_if_error=100, clock=clock)
    await cache.get("a")
    loader.fail = True
    clock.advance(50)
    assert await cache.get("a") == "a:v1"
    clock.advance(100)
    with pytest.raises(StoreUnavailable):
        await cache.get("a")
    loader.fail = False
    assert await cache.get("a") == "a:v1"


async def test_outage_without_cached_entry_raises():
    loader = Loader()
    loader.fail = True
    with pytest.raises(StoreUnavailable):
        await TtlCache(loader, ttl=10, stale_if_error=100).get("a")


async def test_concurrent_misses_share_one_load():
    loader = Loader()
    cache = TtlCache(loader, ttl=10)
    results = await asyncio.gather(*(cache.get("a") for _ in range(20)))
    assert set(results) == {"a:v1"} and loader.calls == 1


async def test_concurrent_failure_reaches_every_waiter():
    loader = Loader()
    loader.fail = True
    cache = TtlCache(loader, ttl=10)
    results = await asyncio.gather(*(cache.get("a") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)


async def test_invalidate_and_size_bound():
    clock, loader = FakeClock(), Loader()
    cache = TtlCache(loader, ttl=60, max_entries=3, clock=clock)
    for key in "abcd":
        await cache.get(key)
    assert len(cache) == 3
    cache.invalidate("d")
    await cache.get("d")
    assert loader.calls == 5


async def test_an_invalidation_during_a_load_is_not_undone_by_it():
    """The admin API invalidates while a lookup of the old record is in flight: the old record is not kept."""
    release = asyncio.Event()
    loads = []

    async def slow_loader(key: str) -> str:
        loads.append(key)
        if len(loads) == 1:
            await release.wait()
            return "before-change"
        return "after-change"

    cache = TtlCache(slow_loader, ttl=60)
    in_flight = asyncio.create_task(cache.get("c1"))
    await asyncio.sleep(0)
    cache.invalidate("c1")
    release.set()
    assert await in_flight == "before-change"
    assert await cache.get("c1") == "after-change"


class Vouching:
    """A confirmation the test moves: every entry is current as of ``through``."""

    def __init__(self) -> None:
        self.through, self.pokes = float("-inf"), 0

    def confirmed_through(self, now: float) -> float:
        self.pokes += 1
        return self.through


async def test_a_confirmed_entry_stays_fresh_past_its_lifetime_and_an_unconfirmed_one_does_not():
    clock, loader, vouching = FakeClock(), Loader(), Vouching()
    cache = TtlCache(loader, ttl=10, clock=clock, confirmation=vouching)
    await cache.get("a")
    for _ in range(10):
        clock.advance(9)
        vouching.through = clock.monotonic()  # the change log says nothing changed
        await cache.get("a")
    assert loader.calls == 1 and vouching.pokes >= 10
    clock.advance(10)  # no confirmation for a lifetime: reloaded
    await cache.get("a")
    assert loader.calls == 2


async def test_a_change_forgets_only_entries_loaded_before_it():
    clock, loader = FakeClock(), Loader()
    cache = TtlCache(loader, ttl=60, clock=clock)
    await cache.get("a")
    changed_at = clock.monotonic()
    clock.advance(1)
    await cache.get("b")
    cache.invalidate_if_loaded_before("a", changed_at + 0.5)
    cache.invalidate_if_loaded_before("b", changed_at + 0.5)  # loaded after the change: kept
    assert cache.peek("a") is None and cache.peek("b") is not None
    await cache.get("a")
    await cache.get("b")
    assert loader.calls == 3
