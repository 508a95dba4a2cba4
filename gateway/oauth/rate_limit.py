"""Brute-force protection for client authentication (RFC 6749 §10.10, RFC 6819 §5.1.4.2.3, §5.2.3.7).

Only *failed* client authentications count, in two families of counters: per
(client id, source address) and per source address. When one reaches its limit
within the window, further requests on that key are refused with 429 and
``Retry-After`` until a window has passed, without the secret being checked. A
client that authenticates correctly never creates an entry and is never slowed,
and failures from an attacker's address cannot lock out the client elsewhere.

Counters are per worker, in memory, bounded (least recently touched entries are
dropped first): with N instances an attacker gets at most N times the limit.

The source address is the *last* ``X-Forwarded-For`` hop, the one the platform's
front end appends (:func:`source_address`): earlier hops are whatever the client
sent, so keying on them would let an attacker pick a fresh "address" per request.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from gateway import telemetry
from gateway.clock import Clock
from gateway.http import Request
from gateway.services import Services

MAX_ENTRIES = 100_000


def source_address(request: Request) -> str:
    """The caller's address as the trusted front end saw it: the last X-Forwarded-For hop, port removed."""
    return request.client_address


@dataclass
class _Counter:
    window_start: float
    failures: int = 0
    locked_until: float = 0.0


class _Counters:
    def __init__(self, limit: int, window: float, max_entries: int) -> None:
        self.limit, self.window, self.max_entries = limit, window, max_entries
        self._entries: OrderedDict[object, _Counter] = OrderedDict()

    def locked_for(self, key: object, now: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        if entry.locked_until > now:
            return entry.locked_until - now
        if now - entry.window_start >= self.window:
            del self._entries[key]
        return 0.0

    def fail(self, key: object, now: float) -> None:
        entry = self._entries.get(key)
        if entry is None or now - entry.window_start >= self.window:
            entry = self._entries[key] = _Counter(window_start=now)
        entry.failures += 1
        if entry.failures >= self.limit:
            if entry.locked_until <= now:
                telemetry.lockout()
            entry.locked_until = now + self.window
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class FailureLimiter:
    """Per-worker failure counters (settings AUTH_FAILURE_LIMIT, _PER_ADDRESS, AUTH_FAILURE_WINDOW_SECONDS)."""

    def __init__(self, *, limit_per_client: int, limit_per_address: int, window_seconds: float, clock: Clock,
                 max_entries: int = MAX_ENTRIES) -> None:
        self._clock = clock
        self._per_client = _Counters(limit_per_client, window_seconds, max_entries)
        self._per_address = _Counters(limit_per_address, window_seconds, max_entries)

    @classmethod
    def for_services(cls, services: Services) -> FailureLimiter:
        s = services.settings
        return cls(limit_per_client=s.auth_failure_limit, limit_per_address=s.auth_failure_limit_per_address,
                   window_seconds=s.auth_failure_window_seconds, clock=services.clock)

    def retry_after(self, client_id: str, address: str) -> int | None:
        """Seconds the caller must wait, or None when it may try to authenticate."""
        now = self._clock.monotonic()
        wait = max(self._per_client.locked_for((client_id, address), now), self._per_address.locked_for(address, now))
        return max(1, math.ceil(wait)) if wait > 0 else None

    def record_failure(self, client_id: str, address: str) -> None:
        now = self._clock.monotonic()
        self._per_client.fail((client_id, address), now)
        self._per_address.fail(address, now)

    def __len__(self) -> int:
        return len(self._per_client) + len(self._per_address)


def failure_limiter(services: Services) -> FailureLimiter:
    """This worker's failure limiter."""
    return services.component("oauth.failure_limiter", FailureLimiter.for_services)
