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

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from gateway.caching import TtlCache
from gateway.services import Services
from gateway.stores.models import Client, Route

V = TypeVar("V", Client, Route)


class _Directory(Generic[V]):
    """A per-worker read-through cache over one store's ``get``."""

    def __init__(self, loader: Callable[[str], Awaitable[V | None]], *, ttl: int, services: Services,
                 name: str) -> None:
        self._cache: TtlCache[str, V | None] = TtlCache(
            loader, ttl=ttl, stale_if_error=services.settings.stale_if_error_seconds, clock=services.clock,
            name=name)

    async def get(self, key: str) -> V | None:
        """The record, from memory when fresh; None when it does not exist."""
        return await self._cache.get(key)

    async def reload(self, key: str) -> V | None:
        """Bypass the cache once (e.g. a presented secret id the cached record does not know yet)."""
        self._cache.invalidate(key)
        return await self._cache.get(key)

    def invalidate(self, key: str) -> None:
        self._cache.invalidate(key)


class ClientDirectory(_Directory[Client]):
    def __init__(self, services: Services) -> None:
        super().__init__(services.clients.get, ttl=services.settings.client_cache_seconds, services=services,
                         name="clients")


class RouteDirectory(_Directory[Route]):
    def __init__(self, services: Services) -> None:
        super().__init__(services.routes.get, ttl=services.settings.route_cache_seconds, services=services,
                         name="routes")

    async def enabled_route(self, tenant_id: str) -> Route | None:
        route = await self.get(tenant_id)
        return route if route is not None and route.enabled else None
