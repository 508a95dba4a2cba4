"""The replay store (``gateway.stores.replay``) on Table Storage, shared by every gateway instance.

One entity per used assertion in ``<TABLE_NAME_PREFIX>replay``: PartitionKey = client id,
RowKey = SHA-256 of the ``jti`` (the attacker-chosen value itself is never stored, and any
character is safe), ``ExpiresOn`` = until when it counts as used.

- ``use_once`` is an insert-if-absent: ``create_entity`` succeeds for the first use; the
  service's 409 means the pair is known. A known entry past ``ExpiresOn`` is reused with an
  ``If-Match`` replace, so of two callers racing for an expired entry one wins (the other's
  412 is a replay).
- Table Storage has no expiry of its own: ``purge_expired`` deletes entries past
  ``ExpiresOn`` (``gateway.housekeeping`` calls it; a missed purge only costs storage, never security).
- A missing table is created and the call retried once, as the other stores do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from gateway.clock import Clock, SystemClock
from gateway.stores.errors import AlreadyExists, NotFound, PreconditionFailed
from gateway.stores.keys import check_key
from gateway.stores.replay import jti_digest
from gateway.stores.tables.entities import utc
from gateway.stores.tables.names import REPLAY_TABLE_SUFFIX
from gateway.stores.tables.stores import _call, create_table_if_missing, purge_where, read_entity


class TableReplayStore:
    """ReplayStore on one table (``from_service`` names it from the gateway's table prefix)."""

    def __init__(self, table: TableClient, clock: Clock | None = None) -> None:
        self._table = table
        self._clock = clock or SystemClock()

    @classmethod
    def from_service(cls, service: TableServiceClient, prefix: str, clock: Clock | None = None) -> TableReplayStore:
        return cls(service.get_table_client(f"{prefix}{REPLAY_TABLE_SUFFIX}"), clock)

    @property
    def table_name(self) -> str:
        return self._table.table_name

    async def ensure_table(self) -> None:
        await create_table_if_missing(self._table)

    async def use_once(self, client_id: str, jti: str, expires_at: datetime) -> bool:
        check_key(client_id, "client_id")
        if not isinstance(jti, str):
            raise TypeError("jti must be a string")
        entity = {"PartitionKey": client_id, "RowKey": jti_digest(jti), "ExpiresOn": utc(expires_at)}
        try:
            await _call(self._table, "use_once", lambda: self._table.create_entity(entity))
            return True
        except AlreadyExists:
            pass
        return await self._reuse_if_expired(entity)

    async def _reuse_if_expired(self, entity: dict[str, Any]) -> bool:
        found = await read_entity(self._table, entity["PartitionKey"], "use_once", row=entity["RowKey"])
        if found is None:  # purged between our insert and our read: try the insert once more
            try:
                await _call(self._table, "use_once", lambda: self._table.create_entity(entity))
                return True
            except AlreadyExists:
                return False
        current, etag = found
        expires_on = current.get("ExpiresOn")
        if isinstance(expires_on, datetime) and utc(expires_on) > self._clock.now():
            return False
        try:
            await _call(self._table, "use_once", lambda: self._table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag,
                match_condition=MatchConditions.IfNotModified))
        except (PreconditionFailed, NotFound):
            return False  # another instance reused (or purged) it first: this use is the second one
        return True

    async def purge_expired(self, *, limit: int = 1000) -> int:
        return await purge_where(self._table, "ExpiresOn le @now", {"now": utc(self._clock.now())}, limit=limit,
                                 operation="purge")
