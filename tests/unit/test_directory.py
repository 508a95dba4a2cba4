"""Cached directories: the kill switch is bounded by the cache lifetime; outages serve stale entries."""

from dataclasses import replace

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
