"""The ids of every registered client, per worker: an unknown client id is answered without a store read.

A token request naming a client id the worker has never seen would otherwise
read Table Storage (milliseconds) where a known client's wrong secret costs a
cached check (microseconds): the difference tells an attacker which client ids
exist, and random ids would read the store on every attempt. This list
(``ClientStore.list``, ids only) answers instead:

* an id in the list goes on to the client directory (which decides; a deleted
  client may linger here harmlessly);
* an id not in the list reloads it when it is older than
  ``RELOAD_INTERVAL_SECONDS``, else reads that one id from the directory while
  ``MISS_READS_PER_SECOND`` allows (a client created on another worker a moment
  ago works at once), else is unknown. A flood of random ids thus costs at most
  one listing plus a few reads per second, and is answered from memory.

When the list cannot be loaded (store down, or no answer within
``LIST_TIMEOUT_SECONDS``) the directory decides, as before, and the list is not
asked for again for ``RELOAD_INTERVAL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging

from gateway.services import Services
from gateway.stores.errors import StoreUnavailable

logger = logging.getLogger("gateway.oauth")

RELOAD_INTERVAL_SECONDS = 1.0
MISS_READS_PER_SECOND = 5.0
LIST_TIMEOUT_SECONDS = 2.0
_PAGE_SIZE = 1000


class KnownClientIds:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._ids: frozenset[str] | None = None
        self._tried_at = float("-inf")
        self._loading: asyncio.Future[None] | None = None
        self._budget = MISS_READS_PER_SECOND
        self._budget_at = float("-inf")

    async def _load(self) -> None:
        ids: set[str] = set()
        continuation = None
        while True:
            page = await self._services.clients.list(page_size=_PAGE_SIZE, continuation=continuation)
            ids.update(client.client_id for client in page.items)
            continuation = page.continuation
            if continuation is None:
                break
        self._ids = frozenset(ids)

    async def _reload(self) -> None:
        """Load the list once for every concurrent caller."""
        if self._loading is None:
            self._tried_at = self._services.clock.monotonic()
            self._loading = asyncio.ensure_future(asyncio.wait_for(self._load(), LIST_TIMEOUT_SECONDS))
            self._loading.add_done_callback(self._loaded)
        await asyncio.shield(self._loading)

    def _loaded(self, future: asyncio.Future[None]) -> None:
        self._loading = None
        if not future.cancelled():
            future.exception()  # retrieved: the awaiting callers see it

    def _may_read_one(self) -> bool:
        now = self._services.clock.monotonic()
        self._budget = min(MISS_READS_PER_SECOND, self._budget + (now - self._budget_at) * MISS_READS_PER_SECOND)
        self._budget_at = now
        if self._budget >= 1:
            self._budget -= 1
            return True
        return False

    async def may_exist(self, client_id: str) -> bool:
        """False only when ``client_id`` is surely not a client; True: ask the client directory."""
        if self._ids is not None and client_id in self._ids:
            return True
        if self._loading is not None or self._services.clock.monotonic() - self._tried_at >= RELOAD_INTERVAL_SECONDS:
            try:
                await self._reload()
            except (StoreUnavailable, TimeoutError):
                logger.warning("client list unavailable; client ids are looked up one by one")
                return True
            ids = self._ids
            assert ids is not None  # set by the load just awaited
            return client_id in ids
        return self._ids is None or self._may_read_one()
