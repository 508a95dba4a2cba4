"""Per-worker read-through cache with a fresh lifetime and stale-if-error (RFC 5861 §4 semantics).

Hot paths read clients, secret verifiers, routes and keys through it, so they
never wait on Table Storage or Key Vault while an entry is fresh. When the
loader fails with :class:`StoreUnavailable`, an entry younger than
``stale_if_error`` keeps serving and the outage is logged once per key.
Concurrent misses for one key share a single load (no thundering herd).
A refresh that could fall back on a stale entry waits at most
``REVALIDATE_TIMEOUT_SECONDS`` (a hung store must not stall the hot path), and
after a failed load stale entries serve for ``OUTAGE_RETRY_SECONDS`` (with
jitter) without asking the store again.

A :class:`Confirmation` (``gateway.directory.ChangeWatcher``) can vouch for every
entry at once: an entry is fresh while it was loaded, *or confirmed unchanged*,
less than ``ttl`` ago, so entries a change log keeps confirming never expire and
no request waits to reload them; the confirmation forgets the ones that changed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from gateway import telemetry
from gateway.clock import Clock, SystemClock
from gateway.stores.errors import StoreUnavailable

logger = logging.getLogger("gateway.cache")

REVALIDATE_TIMEOUT_SECONDS = 1.0
"""How long a request waits to refresh an expired entry that could still serve stale."""
OUTAGE_RETRY_SECONDS = 5.0
"""After a failed or timed-out load, stale entries serve without asking the store again for this long."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Confirmation(Protocol):
    """Something that vouches for a cache's entries (``gateway.directory.ChangeWatcher``)."""

    def confirmed_through(self, now: float) -> float:
        """The monotonic time as of which every entry not forgotten is current (-inf: none). Called on each
        lookup (``now``: the lookup's time): a chance to confirm again, in the background, when that is due."""


class SingleFlight(Generic[K, V]):
    """Concurrent loads of one key share a single run: the first caller runs it, the others await its
    result or its error (shielded: a waiter's cancellation does not cancel the run)."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    def __contains__(self, key: K) -> bool:
        """Whether a load of ``key`` is under way."""
        return key in self._running

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        pending = self._running.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else needs to
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._running[key]


@dataclass
class _Entry(Generic[V]):
    value: V
    loaded_at: float


class TtlCache(Generic[K, V]):
    """Read-through cache; ``None`` results (absent entities) are cached too."""

    def __init__(self, loader: Callable[[K], Awaitable[V]], *, ttl: float, stale_if_error: float = 0.0,
                 max_entries: int = 50_000, clock: Clock | None = None, name: str = "cache",
                 confirmation: Confirmation | None = None) -> None:
        self._loader = loader
        self._confirmation = confirmation
        self._ttl = ttl
        self._stale_if_error = stale_if_error
        self._max_entries = max_entries
        self._clock = clock or SystemClock()
        self._name = name
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._flights: SingleFlight[K, V] = SingleFlight()
        self._invalidated_while_loading: set[K] = set()
        self._outage_until = float("-inf")

    def _vouched_at(self, entry: _Entry[V], now: float) -> float:
        """When ``entry`` was last known current: loaded, or confirmed since."""
        if self._confirmation is None:
            return entry.loaded_at
        return max(entry.loaded_at, self._confirmation.confirmed_through(now))

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        now = self._clock.monotonic()
        if entry is not None and now - self._vouched_at(entry, now) < self._ttl:
            telemetry.cache_lookup(self._name, True)
            return entry.value
        telemetry.cache_lookup(self._name, False)
        if entry is not None and now < self._outage_until and self._servable(entry, now):
            return entry.value  # a refresh failed moments ago: do not wait on the store again yet
        return await self._flights.run(key, lambda: self._load_once(key, entry, now))

    async def _load_once(self, key: K, entry: _Entry[V] | None, now: float) -> V:
        """The one load of a flight; once it ends, whatever loads ``key`` next is kept again."""
        try:
            return await self._load(key, entry, now)
        finally:
            self._invalidated_while_loading.discard(key)

    def _servable(self, entry: _Entry[V], now: float) -> bool:
        return now - self._vouched_at(entry, now) < self._ttl + self._stale_if_error

    async def _load(self, key: K, entry: _Entry[V] | None, now: float) -> V:
        stale = entry if entry is not None and self._servable(entry, now) else None
        try:
            if stale is None:
                value = await self._loader(key)
            else:  # a hung store (it accepts connections, never answers) must not stall the request
                value = await asyncio.wait_for(self._loader(key), REVALIDATE_TIMEOUT_SECONDS)
        except (StoreUnavailable, TimeoutError):
            self._outage_until = self._clock.monotonic() + OUTAGE_RETRY_SECONDS * random.uniform(1.0, 1.5)
            if stale is not None:
                logger.warning("%s: store unavailable, serving a stale entry (age %.0fs)",
                               self._name, now - stale.loaded_at)
                return stale.value
            raise
        if key not in self._invalidated_while_loading:  # else: read before a change, answer it but do not keep it
            self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = _Entry(value, self._clock.monotonic())
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, key: K) -> None:
        """Forget ``key``; a load already under way for it is not kept either."""
        self._entries.pop(key, None)
        if key in self._flights:
            self._invalidated_while_loading.add(key)

    def invalidate_if_loaded_before(self, key: K, moment: float) -> None:
        """Forget ``key`` unless it was loaded at or after ``moment`` (monotonic): a change at ``moment``."""
        entry = self._entries.get(key)
        if (entry is not None and entry.loaded_at < moment) or key in self._flights:
            self.invalidate(key)

    def peek(self, key: K) -> V | None:
        """The entry's value if one is cached, fresh or not, without loading (None otherwise)."""
        entry = self._entries.get(key)
        return entry.value if entry is not None else None

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
