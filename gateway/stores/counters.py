"""Windowed failure counters shared by every instance (the token endpoint's failure limits).

A counter counts failures of one key (an opaque hash chosen by the caller) in a
fixed window that starts with the first failure. When the count reaches the
limit the key is locked for one window from that failure; failures recorded
while it is locked still count but do not extend the lock. A counter whose
window has passed and whose lock has expired starts again at 1 (expiry: nothing
needs deleting for a counter to be forgotten).

:func:`counted` is the one rule every :class:`gateway.stores.protocols.FailureCounterStore`
applies, in memory or as an ETag-conditioned update in Table Storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class FailureCount:
    """A key's failures in its current window, and until when it is locked (None: not locked)."""

    count: int
    window_start: datetime
    locked_until: datetime | None = None

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def expired_at(self, now: datetime, window_seconds: float) -> bool:
        """True once the window has passed and no lock holds: the next failure starts a new window."""
        return now >= self.window_start + timedelta(seconds=window_seconds) and not self.locked_at(now)


def counted(current: FailureCount | None, *, now: datetime, limit: int, window_seconds: float) -> FailureCount:
    """``current`` with one more failure at ``now``."""
    if current is None or current.expired_at(now, window_seconds):
        start, count, locked_until = now, 1, None
    else:
        start, count = current.window_start, current.count + 1
        locked_until = current.locked_until if current.locked_at(now) else None
    if count >= limit and locked_until is None:
        locked_until = now + timedelta(seconds=window_seconds)
    return FailureCount(count=count, window_start=start, locked_until=locked_until)
