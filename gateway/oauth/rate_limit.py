"""Brute-force protection for client authentication (RFC 6749 §10.10, RFC 6819 §5.1.4.2.3, §5.2.3.7).

Only *failed* client authentications count, in two families of counters: per
(client id, source address) and per source address. When one reaches its limit
within the window, further requests on that key are refused with 429 and
``Retry-After`` until a window has passed, without the secret being checked. A
client that authenticates correctly never counts and is never slowed, and
failures from an attacker's address cannot lock out the client elsewhere.

*Reservations.* Every attempt reserves its place in both counters before the
first ``await`` (:meth:`FailureLimiter.reserve`), and a key's failures plus
attempts in flight never exceed its limit; further attempts on that key wait
for one in flight to finish (then are refused if it failed, go on if it
succeeded). So a concurrent burst against a cold cache checks at most the
limit's number of secrets on a worker. The reservation is released when the
attempt succeeds (or a store is down) and becomes a failure when it fails.

*Across instances.* Per-worker counters are in memory, bounded (least recently
touched entries are dropped first). Each failure is also counted in the shared
:class:`gateway.stores.protocols.FailureCounterStore` (Table Storage: one row per
address and fixed window, ``gateway.stores.counters``; a failure for a client id
that does not exist counts against the address only), and that fleet-wide count
decides the answer: past the limit, the failure is answered 429 like a locked key,
and the lock-out is then kept in the worker's memory until its window ends, so
later attempts on that worker are refused unchecked. The shared store is consulted
on failures only: a successful authentication never waits for it. When it is down
or slow (``SHARED_STORE_TIMEOUT_SECONDS``) the worker's own counters still apply
(fail open to per-worker limits; the honest client is never refused because of the
store).

The source address is the *last* ``X-Forwarded-For`` hop, the one the platform's
front end appends (:func:`source_address`): earlier hops are whatever the client
sent, so keying on them would let an attacker pick a fresh "address" per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass

from gateway import telemetry
from gateway.clock import Clock
from gateway.config import Settings
from gateway.http import Request
from gateway.oauth.errors import TooManyFailures
from gateway.stores.counters import FailureCount
from gateway.stores.errors import StoreError
from gateway.stores.protocols import FailureCounterStore

logger = logging.getLogger("gateway.oauth")

MAX_ENTRIES = 100_000
SHARED_STORE_TIMEOUT_SECONDS = 2.0
"""Longest a failure waits for the shared counters before answering from the worker's own."""
MAX_RESERVATION_WAIT_SECONDS = 10.0
"""Longest an attempt waits for the attempts in flight on its key (then 429, Retry-After 1)."""


def source_address(request: Request) -> str:
    """The caller's address as the trusted front end saw it: the last X-Forwarded-For hop, port removed."""
    return request.client_address


def shared_key(kind: str, *parts: str) -> str:
    """The shared store's key of a counter: a hash, so no client id or address is stored in clear."""
    digest = hashlib.sha256("\x00".join((kind, *parts)).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}-{digest[:40]}"


def client_key(client_id: str) -> str:
    """The shared store's key of a client id in its address's row (letters and digits)."""
    return shared_key("c", client_id)[2:22]


@dataclass
class _Counter:
    window_start: float
    failures: int = 0
    pending: int = 0
    locked_until: float = 0.0


class _Counters:
    def __init__(self, limit: int, window: float, max_entries: int) -> None:
        self.limit, self.window, self.max_entries = limit, window, max_entries
        self._entries: OrderedDict[object, _Counter] = OrderedDict()

    def _current(self, key: object, now: float) -> _Counter | None:
        """The key's counter, forgotten once its window has passed, no lock holds and nothing is in flight."""
        entry = self._entries.get(key)
        if (entry is not None and entry.locked_until <= now and entry.pending == 0
                and now - entry.window_start >= self.window):
            del self._entries[key]
            return None
        return entry

    def locked_for(self, key: object, now: float) -> float:
        entry = self._current(key, now)
        return entry.locked_until - now if entry is not None and entry.locked_until > now else 0.0

    def has_room(self, key: object, now: float) -> bool:
        entry = self._current(key, now)
        return entry is None or entry.failures + entry.pending < self.limit

    def _touch(self, key: object, now: float) -> _Counter:
        entry = self._current(key, now)
        if entry is None:
            entry = self._entries[key] = _Counter(window_start=now)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)  # the least recently touched: never the attacker's own entry
        return entry

    def hold(self, key: object, now: float) -> None:
        self._touch(key, now).pending += 1

    def release(self, key: object) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry.pending > 0:
            entry.pending -= 1

    def fail(self, key: object, now: float, *, held: bool = True) -> None:
        if held:
            self.release(key)
        entry = self._touch(key, now)
        if now - entry.window_start >= self.window and entry.locked_until <= now:
            entry.window_start, entry.failures = now, 0
        entry.failures += 1
        if entry.failures >= self.limit:
            self._lock(entry, now, self.window)

    def lock(self, key: object, now: float, seconds: float) -> None:
        self._lock(self._touch(key, now), now, seconds)

    @staticmethod
    def _lock(entry: _Counter, now: float, seconds: float) -> None:
        if entry.locked_until <= now:
            telemetry.lockout()  # a new lock-out, not the extension of one
        entry.locked_until = max(entry.locked_until, now + seconds)

    def __len__(self) -> int:
        return len(self._entries)


class Attempt:
    """One reserved authentication attempt: :meth:`failed` or :meth:`release` (idempotent) ends it."""

    def __init__(self, limiter: FailureLimiter, client_id: str, address: str) -> None:
        self._limiter, self.client_id, self.address = limiter, client_id, address
        self._open = True

    async def failed(self, *, known_client: bool = True) -> int | None:
        """Count the failure here and in the shared store (against the address only when ``known_client`` is
        false: no client has that id); the Retry-After seconds if it was over the limit."""
        if not self._open:
            raise RuntimeError("attempt already ended")
        try:
            return await self._limiter._failed(self.client_id, self.address, known_client)
        finally:
            self._open = False
            self._limiter._changed()

    def release(self) -> None:
        """The attempt did not fail (success, or a store outage): it never counts."""
        if self._open:
            self._open = False
            self._limiter._release(self.client_id, self.address)


class FailureLimiter:
    """Failure limits (settings AUTH_FAILURE_LIMIT, _PER_ADDRESS, AUTH_FAILURE_WINDOW_SECONDS)."""

    def __init__(self, *, limit_per_client: int, limit_per_address: int, window_seconds: float, clock: Clock,
                 max_entries: int = MAX_ENTRIES, shared: FailureCounterStore | None = None) -> None:
        self._clock = clock
        self._window = window_seconds
        self._per_client = _Counters(limit_per_client, window_seconds, max_entries)
        self._per_address = _Counters(limit_per_address, window_seconds, max_entries)
        self._shared = shared
        self._event: asyncio.Event | None = None

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock, shared: FailureCounterStore | None) -> FailureLimiter:
        return cls(limit_per_client=settings.auth_failure_limit,
                   limit_per_address=settings.auth_failure_limit_per_address,
                   window_seconds=settings.auth_failure_window_seconds, clock=clock, shared=shared)

    def retry_after(self, client_id: str, address: str) -> int | None:
        """Seconds the caller must wait, or None when it is not locked out."""
        now = self._clock.monotonic()
        wait = max(self._per_client.locked_for((client_id, address), now), self._per_address.locked_for(address, now))
        return max(1, math.ceil(wait)) if wait > 0 else None

    async def reserve(self, client_id: str, address: str) -> Attempt:
        """Reserve an attempt (before any await); TooManyFailures when the key is locked out."""
        deadline = self._clock.monotonic() + MAX_RESERVATION_WAIT_SECONDS
        while True:
            wait = self.retry_after(client_id, address)
            if wait is not None:
                raise TooManyFailures(wait)
            now = self._clock.monotonic()
            if self._per_client.has_room((client_id, address), now) and self._per_address.has_room(address, now):
                self._per_client.hold((client_id, address), now)
                self._per_address.hold(address, now)
                return Attempt(self, client_id, address)
            # The attempts in flight could fill the limit: wait for one to end, then look again.
            if self._event is None:
                self._event = asyncio.Event()
            try:
                await asyncio.wait_for(self._event.wait(), max(0.0, deadline - self._clock.monotonic()))
            except TimeoutError:
                raise TooManyFailures(1) from None

    def record_failure(self, client_id: str, address: str) -> None:
        """Count a failure that held no reservation (this worker only)."""
        now = self._clock.monotonic()
        self._per_client.fail((client_id, address), now, held=False)
        self._per_address.fail(address, now, held=False)

    def _release(self, client_id: str, address: str) -> None:
        self._per_client.release((client_id, address))
        self._per_address.release(address)
        self._changed()

    def _changed(self) -> None:
        event, self._event = self._event, None
        if event is not None:
            event.set()

    async def _failed(self, client_id: str, address: str, known_client: bool) -> int | None:
        # Counted here before the first await: a request cancelled while the shared store answers still counts.
        now = self._clock.monotonic()
        self._per_client.fail((client_id, address), now)
        self._per_address.fail(address, now)
        shared = await self._count_shared(client_id if known_client else None, address)
        now = self._clock.monotonic()
        over = False
        for counters, key, found in ((self._per_client, (client_id, address), shared[0]),
                                     (self._per_address, address, shared[1])):
            if found is None or found.locked_until is None:
                continue
            # The fleet has locked this key: remember it here until it expires (an expired lock changes nothing).
            counters.lock(key, now, min((found.locked_until - self._clock.now()).total_seconds(), self._window))
            over = over or found.count > counters.limit
        return (self.retry_after(client_id, address) or 1) if over else None

    async def _count_shared(self, client_id: str | None,
                            address: str) -> tuple[FailureCount | None, FailureCount | None]:
        """(the client's count from the address, the address's count) in the shared store; Nones without it."""
        if self._shared is None:
            return None, None
        try:
            counts = await asyncio.wait_for(self._shared.record_failure(
                shared_key("a", address), client_key(client_id) if client_id is not None else None,
                now=self._clock.now(), window_seconds=self._window, address_limit=self._per_address.limit,
                client_limit=self._per_client.limit), SHARED_STORE_TIMEOUT_SECONDS)
        except (StoreError, TimeoutError) as error:
            logger.warning("shared failure counters unavailable (%s); per-worker limits only",
                           type(error).__name__)
            return None, None
        return counts.client, counts.address

    def __len__(self) -> int:
        return len(self._per_client) + len(self._per_address)
