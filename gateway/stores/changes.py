"""The change log: which route or client record was written when, so that workers learn of a change with one
small query instead of reloading every record they cache.

The route and client stores record a change *before* they write (create, replace or delete) the record it
names; a worker polls the log (``gateway.directory.ChangeWatcher``) and forgets the records named in it, and
every other record it caches is current as of the poll. A record written late (after its change was recorded)
is covered because polls read the log back with an overlap (``lag``) and forget what was loaded before the
change plus that overlap. A change that could not be recorded is not written either (the store call fails).

Table Storage keeps the log in the clients table under the reserved partition ``~changes``
(``gateway.stores.tables.changes``); old records are purged by housekeeping.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from gateway.clock import Clock, SystemClock
from gateway.stores.errors import StoreUnavailable

ChangeKind = Literal["route", "client"]


@dataclass(frozen=True)
class Change:
    """A write of the record ``key`` (a tenant id or a client id) at ``at`` (when it was recorded)."""

    kind: ChangeKind
    key: str
    at: datetime


class ChangeLog(Protocol):
    async def record(self, kind: ChangeKind, key: str) -> None:
        """Record that ``key`` is about to be written; StoreUnavailable if it cannot be (then do not write)."""

    async def since(self, moment: datetime) -> list[Change]:
        """The changes recorded at or after ``moment``, oldest first."""

    async def purge_before(self, moment: datetime, *, limit: int = 10_000) -> int:
        """Delete up to ``limit`` changes recorded before ``moment``; how many were deleted."""


class MemoryChangeLog:
    """The change log of one process (unit tests)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self.changes: list[Change] = []
        self.available = True

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("change log unavailable (simulated)")

    async def record(self, kind: ChangeKind, key: str) -> None:
        self._check()
        await asyncio.sleep(0)  # a real store is a round trip away
        self.changes.append(Change(kind, key, self._clock.now()))

    async def since(self, moment: datetime) -> list[Change]:
        self._check()
        return [change for change in self.changes if change.at >= moment]

    async def purge_before(self, moment: datetime, *, limit: int = 10_000) -> int:
        self._check()
        old = [change for change in self.changes if change.at < moment][:limit]
        self.changes = [change for change in self.changes if change not in old]
        return len(old)
