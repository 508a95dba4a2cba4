"""Cached, per-worker lookups of clients and tenant routes for the hot paths.

Token and proxy requests read clients and routes through these directories,
never straight from Table Storage: a fresh entry answers from memory, an entry
older than its lifetime is reloaded, and while Table Storage is unreachable an
entry younger than ``STALE_IF_ERROR_SECONDS`` keeps serving (see
``gateway.caching``). Lifetimes bound how long a change made on another worker
takes to be seen: ``CLIENT_CACHE_SECONDS`` for a disabled or deleted client,
``ROUTE_CACHE_SECONDS`` for a changed route. The admin API invalidates entries
of its own worker at once.
"""

from __future__ import annotations

from gateway.caching import TtlCache
from gateway.services import Services
from gateway.stores.models import Client, Route


class ClientDirectory:
    def __init__(self, services: Services) -> None:
        settings = services.settings
        self._cache: TtlCache[str, Client | None] = TtlCache(
            services.clients.get, ttl=settings.client_cache_seconds,
            stale_if_error=settings.stale_if_error_seconds, clock=services.clock, name="clients")

    async def get(self, client_id: str) -> Client | None:
        """The client record, from memory when fresh; None when it does not exist."""
        return await self._cache.get(client_id)

    async def reload(self, client_id: str) -> Client | None:
        """Bypass the cache once (e.g. a presented secret id the cached record does not know yet)."""
        self._cache.invalidate(client_id)
        return await self._cache.get(client_id)

    def invalidate(self, client_id: str) -> None:
        self._cache.invalidate(client_id)


class RouteDirectory:
    def __init__(self, services: Services) -> None:
        settings = services.settings
        self._cache: TtlCache[str, Route | None] = TtlCache(
            services.routes.get, ttl=settings.route_cache_seconds,
            stale_if_error=settings.stale_if_error_seconds, clock=services.clock, name="routes")

    async def get(self, tenant_id: str) -> Route | None:
        """The tenant's route (enabled or not), from memory when fresh; None when none exists."""
        return await self._cache.get(tenant_id)

    async def enabled_route(self, tenant_id: str) -> Route | None:
        route = await self.get(tenant_id)
        return route if route is not None and route.enabled else None

    def invalidate(self, tenant_id: str) -> None:
        self._cache.invalidate(tenant_id)


def client_directory(services: Services) -> ClientDirectory:
    """This worker's client directory."""
    return services.component("directory.clients", ClientDirectory)


def route_directory(services: Services) -> RouteDirectory:
    """This worker's route directory."""
    return services.component("directory.routes", RouteDirectory)
