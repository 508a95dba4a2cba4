"""Cached directories: the kill switch is bounded by the cache lifetime; outages serve stale entries; the change
log keeps entries current without reloading them."""

import asyncio
from dataclasses import replace

import pytest

from gateway.directory import MAX_LAG_SECONDS, MAX_POLL_INTERVAL_SECONDS
from gateway.stores.errors import StoreUnavailable
from gateway.stores.models import Client, Route


async def test_disabled_client_is_seen_after_the_cache_lifetime(services, clock):
    stored = await services.clients.create(Client(client_id="c1", display_name="Teams"))
    directory = services.client_directory
    assert (await directory.get("c1")).enabled
    await services.clients.replace(replace(stored, enabled=False))
    assert (await directory.get("c1")).enabled  # cached
    clock.advance(services.settings.client_cache_seconds + 1)
    assert not (await directory.get("c1")).enabled


async def test_invalidate_takes_effect_at_once(services):
    directory = services.client_directory
    assert await directory.get("c2") is None
    await services.clients.create(Client(client_id="c2", display_name="x"))
    assert await directory.get("c2") is None
    assert (await directory.reload("c2")).client_id == "c2"


async def test_route_served_stale_while_table_storage_is_down(services, clock):
    await services.routes.create(Route(tenant_id="t1", fhir_base_url="http://p", fhir_version="STU3"))
    routes = services.route_directory
    assert (await routes.enabled_route("t1")).fhir_base_url == "http://p"
    services.routes.available = False
    clock.advance(services.settings.route_cache_seconds + 5)
    assert (await routes.enabled_route("t1")).fhir_base_url == "http://p"


async def test_disabled_route_is_not_an_enabled_route(services):
    await services.routes.create(Route(tenant_id="t2", fhir_base_url="http://p", fhir_version="STU3", enabled=False))
    assert await services.route_directory.enabled_route("t2") is None
    assert (await services.route_directory.get("t2")).enabled is False


# -- kept current by the change log ------------------------------------------------------------------------

class CountingGets:
    """A store counting its point reads."""

    def __init__(self, inner) -> None:
        self.inner, self.gets = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def get(self, key):
        self.gets += 1
        return await self.inner.get(key)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_entries_the_change_log_confirms_never_expire_and_no_request_waits(services, clock):
    await services.routes.create(Route(tenant_id="t3", fhir_base_url="http://p", fhir_version="STU3"))
    clock.advance(MAX_LAG_SECONDS + 1)  # loaded well after its creation was recorded
    services.routes = counting = CountingGets(services.routes)
    routes = services.route_directory
    assert (await routes.get("t3")).fhir_base_url == "http://p"
    for _ in range(60):  # ten minutes of traffic, a poll of the change log every few seconds
        clock.advance(10)
        assert (await routes.get("t3")).fhir_base_url == "http://p"
        await settle()
    assert counting.gets == 1


async def test_a_change_is_seen_at_the_next_poll(services, clock):
    stored = await services.clients.create(Client(client_id="c4", display_name="Teams"))
    directory = services.client_directory
    assert (await directory.get("c4")).enabled
    await settle()
    await services.clients.replace(replace(stored, enabled=False))  # by an administrator, on another worker
    clock.advance(MAX_POLL_INTERVAL_SECONDS)
    await directory.get("c4")  # due: a poll starts in the background
    await settle()
    assert not (await directory.get("c4")).enabled
    assert MAX_POLL_INTERVAL_SECONDS < services.settings.client_cache_seconds


async def test_a_record_written_after_its_change_was_polled_is_still_caught(services, clock):
    """A write lands a little after its change was recorded (within the watcher's lag): a poll in between
    reloads the old record, and the next poll, reading back that far, forgets it again."""
    await services.routes.create(Route(tenant_id="t5", fhir_base_url="http://old", fhir_version="STU3"))
    clock.advance(MAX_LAG_SECONDS + 1)
    routes, watcher = services.route_directory, services.change_watcher
    assert (await routes.get("t5")).fhir_base_url == "http://old"
    await services.changes.record("route", "t5")  # recorded; the write itself is slow to land
    clock.advance(1)
    await watcher.poll()  # forgets t5...
    assert (await routes.get("t5")).fhir_base_url == "http://old"  # ...which is reloaded before the write lands
    clock.advance(1)
    await _replace_unrecorded(services, await services.routes.get("t5"))  # the write lands
    clock.advance(MAX_POLL_INTERVAL_SECONDS)
    await watcher.poll()  # reads the change again (within its lag) and forgets t5 once more
    assert (await routes.get("t5")).fhir_base_url == "http://new"


async def _replace_unrecorded(services, route) -> None:
    changes, services.routes._changes = services.routes._changes, None  # noqa: SLF001 - a write the log missed
    try:
        await services.routes.replace(replace(route, fhir_base_url="http://new"))
    finally:
        services.routes._changes = changes  # noqa: SLF001


async def test_without_the_change_log_entries_expire_within_their_lifetime(services, clock):
    stored = await services.clients.create(Client(client_id="c6", display_name="Teams"))
    directory = services.client_directory
    assert (await directory.get("c6")).enabled
    await settle()
    services.changes.available = False  # every poll fails from now on
    changes, services.clients._changes = services.clients._changes, None  # noqa: SLF001
    await services.clients.replace(replace(stored, enabled=False))
    services.clients._changes = changes  # noqa: SLF001
    for _ in range(services.settings.client_cache_seconds // 10):
        clock.advance(10)
        await directory.get("c6")
        await settle()
    assert not (await directory.get("c6")).enabled


async def test_a_write_the_change_log_cannot_record_is_not_made(services):
    await services.routes.create(Route(tenant_id="t7", fhir_base_url="http://p", fhir_version="STU3"))
    services.changes.available = False
    with pytest.raises(StoreUnavailable):
        await services.routes.delete("t7")
    assert await services.routes.get("t7") is not None
