"""Cached, per-worker lookups of clients and tenant routes for the hot paths, kept current by the change log.

Token and proxy requests read clients and routes through these directories, never straight from Table Storage.
An entry is loaded once; after that the worker's :class:`ChangeWatcher` polls the change log
(``gateway.stores.changes``: one small query about every ``POLL_INTERVAL_SECONDS``, in the background,
started by a lookup when due) and forgets the entries that changed, and every other entry is thereby confirmed
current: it is served from memory for as long as the polls go on, and no request waits to reload it. So a
worker's store reads grow with the changes administrators make and the records it has never seen, not with
time or with the number of routes and clients it serves.

Revocation delays are unchanged: a disabled or deleted client is refused within ``CLIENT_CACHE_SECONDS``, a
changed route is used within ``ROUTE_CACHE_SECONDS`` (in practice within a poll interval). When the polls
fail, an entry expires that long after it was last confirmed and is reloaded on the request path, and while
Table Storage is unreachable an entry younger than ``STALE_IF_ERROR_SECONDS`` keeps serving
(``gateway.caching``). The admin API invalidates entries of its own worker at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Generic, TypeVar

from gateway.caching import Confirmation, TtlCache
from gateway.clock import Clock
from gateway.stores.changes import ChangeKind, ChangeLog
from gateway.stores.errors import StoreUnavailable
from gateway.stores.models import Client, Route

logger = logging.getLogger("gateway.cache")

V = TypeVar("V", Client, Route)
MAX_POLL_INTERVAL_SECONDS = 10.0
MAX_LAG_SECONDS = 5.0
"""How late a change may become visible in the log (its write's latency, clock skew between instances):
polls read that far back, and forget what was loaded before a change plus this."""


class ChangeWatcher:
    """Polls the change log for this worker's directories (see the module docstring)."""

    def __init__(self, changes: ChangeLog, clock: Clock, *, shortest_ttl: float) -> None:
        self._changes = changes
        self._clock = clock
        self._interval = min(MAX_POLL_INTERVAL_SECONDS, shortest_ttl / 3)
        self._lag = min(MAX_LAG_SECONDS, self._interval)
        self._caches: dict[ChangeKind, TtlCache[str, object]] = {}
        self._cursor = clock.now() - timedelta(seconds=self._lag)  # no entry was loaded before this worker began
        self._confirmed = float("-inf")
        self._next_poll = float("-inf")
        self._polling: asyncio.Task[None] | None = None

    def watch(self, kind: ChangeKind, cache: TtlCache[str, object]) -> None:
        self._caches[kind] = cache

    def confirmed_through(self, now: float) -> float:
        """As of when every entry not forgotten is current; starts a poll in the background when one is due."""
        if now >= self._next_poll and (self._polling is None or self._polling.done()):
            self._next_poll = now + self._interval
            self._polling = asyncio.ensure_future(self.poll())
        return self._confirmed

    async def poll(self) -> None:
        """Read the changes since the last poll (and ``lag`` before it); forget what they name; confirm the rest."""
        started, wall = self._clock.monotonic(), self._clock.now()
        self._next_poll = max(self._next_poll, started + self._interval)
        try:
            changes = await self._changes.since(self._cursor - timedelta(seconds=self._lag))
        except StoreUnavailable as error:
            logger.warning("change log unavailable (%s): cached records expire on their own", type(error).__name__)
            return
        for change in changes:
            cache = self._caches.get(change.kind)
            if cache is not None:
                written_by = started - (wall - change.at).total_seconds() + self._lag
                cache.invalidate_if_loaded_before(change.key, written_by)
        self._cursor = wall
        self._confirmed = max(self._confirmed, started - self._lag)

    async def aclose(self) -> None:
        task, self._polling = self._polling, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class _Directory(Generic[V]):
    """A per-worker read-through cache over one store's ``get``."""

    def __init__(self, loader: Callable[[str], Awaitable[V | None]], *, ttl: float, stale_if_error: float,
                 clock: Clock, name: str, kind: ChangeKind, watcher: ChangeWatcher | None) -> None:
        confirmation: Confirmation | None = watcher
        self._cache: TtlCache[str, V | None] = TtlCache(
            loader, ttl=ttl, stale_if_error=stale_if_error, clock=clock, name=name, confirmation=confirmation)
        if watcher is not None:
            watcher.watch(kind, self._cache)  # type: ignore[arg-type]  # values are opaque to the watcher

    async def get(self, key: str) -> V | None:
        """The record, from memory when current; None when it does not exist."""
        return await self._cache.get(key)

    def cached(self, key: str) -> V | None:
        """The record if this worker holds it (current or not), without a store call."""
        return self._cache.peek(key)

    async def reload(self, key: str) -> V | None:
        """Bypass the cache once (e.g. a presented secret id the cached record does not know yet)."""
        self._cache.invalidate(key)
        return await self._cache.get(key)

    def invalidate(self, key: str) -> None:
        self._cache.invalidate(key)


class ClientDirectory(_Directory[Client]):
    def __init__(self, loader: Callable[[str], Awaitable[Client | None]], *, ttl: float, stale_if_error: float,
                 clock: Clock, watcher: ChangeWatcher | None = None) -> None:
        super().__init__(loader, ttl=ttl, stale_if_error=stale_if_error, clock=clock, name="clients",
                         kind="client", watcher=watcher)


class RouteDirectory(_Directory[Route]):
    def __init__(self, loader: Callable[[str], Awaitable[Route | None]], *, ttl: float, stale_if_error: float,
                 clock: Clock, watcher: ChangeWatcher | None = None) -> None:
        super().__init__(loader, ttl=ttl, stale_if_error=stale_if_error, clock=clock, name="routes",
                         kind="route", watcher=watcher)

    async def enabled_route(self, tenant_id: str) -> Route | None:
        route = await self.get(tenant_id)
        return route if route is not None and route.enabled else None
