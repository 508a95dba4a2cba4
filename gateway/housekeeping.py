"""Purging what Table Storage keeps past its use: spent client assertion ids and expired failure counters.

Table Storage has no expiry of its own, and both tables grow with traffic a caller controls (every
``private_key_jwt`` token request leaves its ``jti``; every failed authentication of a new client id or
address leaves a counter). Each worker purges at most every ``PURGE_INTERVAL_SECONDS``, in the background
after a token request has been answered, never on its path, at most ``PURGE_BATCH`` rows per table at a
time. Both stores already treat an expired row as absent, so a purge that is late, interrupted (an instance
scaled in) or failing costs storage only, never a decision; two instances purging at once delete each row
once (``If-Match``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from gateway.services import Services

logger = logging.getLogger("gateway.housekeeping")

PURGE_INTERVAL_SECONDS = 600.0
PURGE_BATCH = 1000


class Housekeeping:
    """This worker's purge schedule (``Services.housekeeping``)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._last = float("-inf")
        self._running: asyncio.Task[None] | None = None

    def after_token_request(self) -> None:
        """Start a purge in the background when the last one is ``PURGE_INTERVAL_SECONDS`` old and done."""
        now = self._services.clock.monotonic()
        if (self._running is not None and not self._running.done()) or now - self._last < PURGE_INTERVAL_SECONDS:
            return
        self._last = now
        self._running = asyncio.get_running_loop().create_task(self.purge())

    async def purge(self) -> None:
        """One purge of each table; failures are logged by kind and otherwise ignored."""
        services = self._services
        settings = services.settings
        if services.replay is not None:
            await self._step("replay", services.replay.purge_expired(limit=PURGE_BATCH))
        if services.failure_counters is not None:
            await self._step("counters", services.failure_counters.purge_expired(
                now=services.clock.now(), window_seconds=settings.auth_failure_window_seconds, limit=PURGE_BATCH))

    @staticmethod
    async def _step(table: str, deleting: Awaitable[int]) -> None:
        try:
            deleted = await deleting
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
