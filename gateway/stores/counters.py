"""Failure counters shared by every instance (the token endpoint's failure limits), in fixed windows.

Failures are counted per source address and, for a client that exists, per (client, address), in windows of
``window_seconds`` aligned on the epoch. When a count reaches its limit the key is locked until its window
ends; the next window starts again from zero. So a key gets at most its limit in any window, and at most twice
its limit in any span one window long (the end of one window and the start of the next).

One row per (address, window) holds both: the address's count and one count per client id that failed from it
(``gateway.stores.tables.counters``). A failure costs a read and a conditional write of that row (2 Table
transactions, 1 row), and rows of past windows are purged by partition (``gateway.stores.tables.buckets``).
A failure for an unknown client id counts against the address only: nothing is kept per client id an
attacker invents.

:func:`counted` is the one rule every :class:`gateway.stores.protocols.FailureCounterStore` applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_CLIENTS_PER_ROW = 200
"""Client counts kept in one address's row (Table Storage allows 252 properties); past them, the address's
own count goes on (it locks long before with any sensible per-address limit)."""


@dataclass(frozen=True)
class FailureCount:
    """A key's failures in its current window, and until when it is locked (None: not locked)."""

    count: int
    window_start: datetime
    locked_until: datetime | None = None

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True)
class FailureCounts:
    """The counts after one failure: the source address's, and the client's from it (None: not counted)."""

    address: FailureCount
    client: FailureCount | None = None


def window_of(now: datetime, window_seconds: float) -> tuple[datetime, datetime]:
    """The fixed window ``now`` falls in: [start, end)."""
    start = int(now.timestamp() // window_seconds) * window_seconds
    begins = datetime.fromtimestamp(start, UTC)
    return begins, begins + timedelta(seconds=window_seconds)


def counted(count: int, *, now: datetime, limit: int, window_seconds: float) -> FailureCount:
    """A key's ``count`` failures in the window of ``now``: locked until the window's end from ``limit`` on."""
    start, end = window_of(now, window_seconds)
    return FailureCount(count=count, window_start=start, locked_until=end if count >= limit else None)
