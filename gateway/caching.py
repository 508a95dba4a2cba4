"""Per-worker read-through cache with a fresh lifetime and stale-if-error (RFC 5861 §4 semantics).

Hot paths read clients, secret verifiers, routes and keys through it, so they
never wait on Table Storage or Key Vault while an entry is fresh. When the
loader fails with :class:`StoreUnavailable`, an entry younger than
``stale_if_error`` keeps serving and the outage is logged once per key.
Concurrent misses for one key share a single load (no thundering herd).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.clock import Clock, SystemClock
from gateway.stores.errors import StoreUnavailable

logger = logging.getLogger("gateway.cache")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Entry(Generic[V]):
    value: V
    loaded_at: float


class TtlCache(Generic[K, V]):
    """Read-through cache; ``None`` results (absent entities) are cached too."""

    def __init__(self, loader: Callable[[K], Awaitable[V]], *, ttl: float, stale_if_error: float = 0.0,
                 max_entries: int = 50_000, clock: Clock | None = None, name: str = "cache") -> None:
        self._loader = loader
        self._ttl = ttl
        self._stale_if_error = stale_if_error
        self._max_entries = max_entries
        self._clock = clock or SystemClock()
        self._name = name
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._inflight: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        now = self._clock.monotonic()
        if entry is not None and now - entry.loaded_at < self._ttl:
            return entry.value
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await self._load(key, entry, now)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else needs to
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._inflight[key]

    async def _load(self, key: K, entry: _Entry[V] | None, now: float) -> V:
        try:
            value = await self._loader(key)
        except StoreUnavailable:
            if entry is not None and now - entry.loaded_at < self._ttl + self._stale_if_error:
                logger.warning("%s: store unavailable, serving a stale entry (age %.0fs)",
                               self._name, now - entry.loaded_at)
                return entry.value
            raise
        self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = _Entry(value, self._clock.monotonic())
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
