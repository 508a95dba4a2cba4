"""Whether a client id can belong to a client, answered from memory: an unknown id costs no store call.

A token request naming a client id the worker has never seen would otherwise read Table Storage (milliseconds)
where a known client's wrong secret costs a cached check (microseconds): the difference tells an attacker which
client ids exist, and random ids would read the store on every attempt. Instead:

* an id of the shape the gateway issues (``gateway.oauth.client_ids``: a tagged version-8 UUID) may exist when
  its tag verifies under the client id key (read once per worker); a forged one is refused, whatever the
  number of clients, and a client created a moment ago on another worker is known at once;
* any other id (clients created before tags, or by tools that chose their ids) may exist when it is in the index
  of such ids (``gateway.stores.legacy_ids``: written by the deployment's ``gateway-admin ensure``, read whole
  once per worker and again every ``LEGACY_REFRESH_SECONDS`` in the background);
* an id of neither kind (not in the index, or no index yet: a deployment that has not run ``ensure`` since it
  upgraded, a client imported since) goes to the client directory while ``MISS_READS_PER_SECOND`` allows, and
  is unknown past it: a flood of invented ids costs a worker at most that many point reads a second. An id
  granted a read stays granted for ``GRANT_SECONDS`` (the directory caches what the read found, absent or not),
  so a cold worker's burst of one such client's requests shares its one read instead of exhausting the budget.

An id the client directory has read a client for on this worker stays known (:meth:`KnownClientIds.found`,
at most ``MAX_FOUND`` of them): a change that makes the directory forget the client's record (the change log)
must not turn its next requests into unknown ids past the budget.

Nothing here lists the clients. When the key or the index cannot be read (store down), the directory decides,
as it would without this check; they are asked again no sooner than ``OUTAGE_RETRY_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import random

from gateway.clock import Clock
from gateway.oauth.client_ids import ClientIdKeys, is_tagged_shape, tag_verifies
from gateway.stores.errors import StoreUnavailable
from gateway.stores.keys import is_valid_key
from gateway.stores.legacy_ids import LegacyClientIds, id_digest

logger = logging.getLogger("gateway.oauth")

MISS_READS_PER_SECOND = 5.0
LEGACY_REFRESH_SECONDS = 3600.0
ABSENT_RETRY_SECONDS = 60.0
OUTAGE_RETRY_SECONDS = 5.0
MAX_FOUND = 100_000
GRANT_SECONDS = 10.0


class KnownClientIds:
    """See the module docstring; ``may_exist`` is the one question."""

    def __init__(self, keys: ClientIdKeys, legacy: LegacyClientIds | None, clock: Clock) -> None:
        self._keys = keys
        self._legacy = legacy
        self._clock = clock
        self._index: frozenset[bytes] | None = None
        self._index_read = False
        self._next_read = float("-inf")
        self._reading: asyncio.Task[None] | None = None
        self._budget = MISS_READS_PER_SECOND
        self._budget_at = float("-inf")
        self._found: set[bytes] = set()
        self._granted: dict[bytes, float] = {}  # ids granted a read, by when: at most the budget's worth

    async def may_exist(self, client_id: str) -> bool:
        """False only when ``client_id`` is surely not a client; True: ask the client directory."""
        if not is_valid_key(client_id):
            return False
        if is_tagged_shape(client_id):
            try:
                return tag_verifies(client_id, await self._keys.keys())
            except StoreUnavailable:
                logger.warning("client id key unavailable; the client directory decides")
                return True
        return await self._legacy_may_exist(client_id)

    def found(self, client_id: str) -> None:
        """The client directory read a client with this id: it may exist from now on (an id not of the issued
        shape; tagged ids need no memory)."""
        if len(self._found) < MAX_FOUND and not is_tagged_shape(client_id):
            self._found.add(id_digest(client_id))

    async def _legacy_may_exist(self, client_id: str) -> bool:
        if id_digest(client_id) in self._found:
            return True
        try:
            index = await self._legacy_index()
        except StoreUnavailable:
            logger.warning("legacy client id index unavailable; the client directory decides")
            return True
        digest = id_digest(client_id)
        if index is not None and digest in index:
            return True
        return self._may_read_one(digest)

    async def _legacy_index(self) -> frozenset[bytes] | None:
        """The index (None without one); read on first need, then again in the background when due."""
        due = self._clock.monotonic() >= self._next_read
        if self._index_read:
            if due:
                self._start_read()
            return self._index
        if not due:
            raise StoreUnavailable("the legacy client id index could not be read moments ago")
        await asyncio.shield(self._start_read())
        if not self._index_read:
            raise StoreUnavailable("the legacy client id index could not be read")
        return self._index

    def _start_read(self) -> asyncio.Task[None]:
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(self._read())
        return self._reading

    async def _read(self) -> None:
        if self._legacy is None:
            self._index_read, self._next_read = True, float("inf")
            return
        try:
            index = await self._legacy.load()
        except StoreUnavailable as error:
            logger.warning("legacy client id index unreadable (%s)", type(error).__name__)
            self._next_read = self._clock.monotonic() + OUTAGE_RETRY_SECONDS * random.uniform(1.0, 1.5)
            return
        if index is None:
            logger.warning("no legacy client id index: run `gateway-admin ensure`; until then client ids not "
                           "issued by this version are looked up %.0f a second at most", MISS_READS_PER_SECOND)
        self._index, self._index_read = index, True
        wait = LEGACY_REFRESH_SECONDS if index is not None else ABSENT_RETRY_SECONDS
        self._next_read = self._clock.monotonic() + wait * random.uniform(1.0, 1.2)

    def _may_read_one(self, digest: bytes) -> bool:
        now = self._clock.monotonic()
        if now - self._granted.get(digest, float("-inf")) < GRANT_SECONDS:
            return True
        self._budget = min(MISS_READS_PER_SECOND, self._budget + (now - self._budget_at) * MISS_READS_PER_SECOND)
        self._budget_at = now
        if self._budget >= 1:
            self._budget -= 1
            self._granted = {d: at for d, at in self._granted.items() if now - at < GRANT_SECONDS}
            self._granted[digest] = now
            return True
        return False

    async def aclose(self) -> None:
        task, self._reading = self._reading, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
