"""The replay store: each client assertion's ``jti`` is accepted once within its lifetime
(RFC 7523 §3 item 7: "The authorization server MAY ensure that JWTs are not replayed by
maintaining the set of used "jti" values for the length of time for which the JWT would be
considered valid"; SMART App Launch 2.x Backend Services makes it a MUST).

Every gateway instance shares one store (Table Storage in Azure, see
``gateway.stores.tables.replay``); this module holds the interface and the in-memory twin
for unit tests and single-process development.

Contract (``tests/unit/stores/replay_contracts.py`` runs it on both implementations):

- ``use_once(client_id, jti, expires_at)`` is True the first time a (client, jti) pair is seen
  and False while it is remembered: at least until ``expires_at`` (the assertion's ``exp`` plus the
  verifier's leeway), which is at most ``MAX_REMEMBER_SECONDS`` away (further is a ValueError: no
  assertion the verifier accepts lives that long). Of concurrent calls with one pair, at most one
  is True, across instances (exactly one, but for calls racing across the Table store's bucket
  boundary, which may both be refused: failing closed).
- Some time after ``expires_at`` the pair may be used again (the assertion itself is expired by
  then); ``purge_expired()`` removes entries past their use.
- The ``jti`` is attacker-chosen text: stores keep its SHA-256 digest only, never the value, so
  any length and any character is safe. ``client_id`` must be a valid store key
  (``gateway.stores.keys``), as every registered client id is.
- An unreachable service raises ``StoreUnavailable``: the caller must then refuse the
  assertion (fail closed), never accept it unchecked.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Protocol

from gateway.clock import Clock, SystemClock
from gateway.stores.errors import StoreUnavailable
from gateway.stores.keys import check_key

MAX_REMEMBER_SECONDS = 600.0
"""The longest a pair may be asked to be remembered (an assertion lives at most 300 s, plus leeways)."""


def check_expiry(expires_at: datetime, now: datetime) -> None:
    """ValueError when ``expires_at`` is further than ``MAX_REMEMBER_SECONDS`` from ``now``."""
    if (_utc(expires_at) - _utc(now)).total_seconds() > MAX_REMEMBER_SECONDS:
        raise ValueError(f"a jti is remembered for at most {MAX_REMEMBER_SECONDS:.0f} s")


class ReplayStore(Protocol):
    async def use_once(self, client_id: str, jti: str, expires_at: datetime) -> bool:
        """Remember (client_id, jti) until ``expires_at``; False when it is already remembered (a replay)."""

    async def purge_expired(self, *, limit: int = 1000) -> int:
        """Delete up to ``limit`` entries past their expiry; returns how many were deleted."""


def jti_digest(jti: str) -> str:
    """The hex SHA-256 of a ``jti`` (UTF-8; lone surrogates kept by ``surrogatepass``): what stores keep."""
    return hashlib.sha256(jti.encode("utf-8", "surrogatepass")).hexdigest()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class MemoryReplayStore:
    """In-memory twin of the replay store: one process only (unit tests, single-worker development)."""

    SWEEP_EVERY = 1024

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._entries: dict[tuple[str, str], datetime] = {}
        self._inserts = 0
        self.available = True  # tests switch it off to simulate an outage

    def _check_available(self) -> None:
        if not self.available:
            raise StoreUnavailable("use_once on the replay store: the service cannot be reached")

    async def use_once(self, client_id: str, jti: str, expires_at: datetime) -> bool:
        check_key(client_id, "client_id")
        if not isinstance(jti, str):
            raise TypeError("jti must be a string")
        now = self._clock.now()
        check_expiry(expires_at, now)
        self._check_available()
        await asyncio.sleep(0)  # a real store is a round trip away: let concurrent callers interleave
        key = (client_id, jti_digest(jti))
        now = self._clock.now()
        known = self._entries.get(key)
        if known is not None and known > now:
            return False
        self._entries[key] = _utc(expires_at)
        self._inserts += 1
        if self._inserts % self.SWEEP_EVERY == 0:
            await self.purge_expired(limit=len(self._entries))
        return True

    async def purge_expired(self, *, limit: int = 1000) -> int:
        self._check_available()
        now = self._clock.now()
        expired = [key for key, expires in self._entries.items() if expires <= now][:limit]
        for key in expired:
            del self._entries[key]
        return len(expired)

    def __len__(self) -> int:
        return len(self._entries)
