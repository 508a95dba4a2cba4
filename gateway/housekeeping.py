"""Purging what Table Storage keeps past its use: spent client assertion ids, expired failure counters and change
records older than a day.

Table Storage has no expiry of its own, and the first two tables grow with traffic a caller controls (every
``private_key_jwt`` token request leaves its ``jti``; every failed authentication from a new address leaves a
counter row). Their rows live in time-bucketed partitions (``gateway.stores.tables.buckets``), so a purge is a
key-range query and deletes in batches of a hundred: about 11 transactions per 1,000 rows.

Each worker purges every ``PURGE_INTERVAL_SECONDS`` (with jitter, so that workers started together do not purge
together), in the background after a token request has been answered, never on its path; a run deletes up to
``PURGE_LIMIT`` rows per table, so one worker purges far more rows than it can create (one per failed
authentication at most). Stores treat an expired row as absent, so a purge that is late, interrupted (an
instance scaled in) or failing costs storage only, never a decision.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

from gateway.clock import Clock
from gateway.stores.changes import ChangeLog
from gateway.stores.protocols import FailureCounterStore
from gateway.stores.replay import ReplayStore

logger = logging.getLogger("gateway.housekeeping")

PURGE_INTERVAL_SECONDS = 300.0
PURGE_LIMIT = 100_000
CHANGE_RETENTION = timedelta(days=1)
"""Change records are kept this long (workers read back a few seconds of them)."""
Purge = Callable[[], Awaitable[int]]


class Housekeeping:
    """This worker's purge schedule (``Services.housekeeping``)."""

    def __init__(self, clock: Clock, purges: dict[str, Purge]) -> None:
        self._clock = clock
        self._purges = purges
        self._next = float("-inf")
        self._running: asyncio.Task[None] | None = None

    @classmethod
    def for_stores(cls, clock: Clock, *, replay: ReplayStore | None, counters: FailureCounterStore | None,
                   changes: ChangeLog | None, window_seconds: float) -> Housekeeping:
        purges: dict[str, Purge] = {}
        if changes is not None:
            purges["changes"] = lambda: changes.purge_before(clock.now() - CHANGE_RETENTION, limit=PURGE_LIMIT)
        if replay is not None:
            purges["replay"] = lambda: replay.purge_expired(limit=PURGE_LIMIT)
        if counters is not None:
            purges["counters"] = lambda: counters.purge_expired(now=clock.now(), window_seconds=window_seconds,
                                                                limit=PURGE_LIMIT)
        return cls(clock, purges)

    def after_token_request(self) -> None:
        """Start a purge in the background when one is due and none is running."""
        now = self._clock.monotonic()
        if (self._running is not None and not self._running.done()) or now < self._next:
            return
        self._next = now + PURGE_INTERVAL_SECONDS * random.uniform(0.5, 1.5)
        self._running = asyncio.get_running_loop().create_task(self.purge())

    async def purge(self) -> None:
        """One purge of each table; failures are logged by kind and otherwise ignored."""
        for table, purging in self._purges.items():
            await self._step(table, purging)

    @staticmethod
    async def _step(table: str, purging: Purge) -> None:
        try:
            deleted = await purging()
        except Exception as exc:  # noqa: BLE001 - a missed purge costs storage only
            logger.warning("housekeeping: purge of %s failed type=%s", table, type(exc).__name__)
            return
        if deleted:
            logger.info("housekeeping: purged %d expired %s rows", deleted, table)

    async def aclose(self) -> None:
        """Stop a purge under way: the stores are closed next (the rows it had left wait for the next one)."""
        if self._running is not None and not self._running.done():
            self._running.cancel()
            await asyncio.gather(self._running, return_exceptions=True)
