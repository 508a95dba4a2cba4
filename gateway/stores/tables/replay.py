"""The replay store (``gateway.stores.replay``) on Table Storage, shared by every gateway instance.

One row per used assertion in ``<TABLE_NAME_PREFIX>replay``, in the hour it was used:
``PartitionKey`` = the hour's bucket and a shard (``gateway.stores.tables.buckets``), ``RowKey`` = SHA-256
of the client id and the ``jti`` (the attacker-chosen value itself is never stored, and any character is
safe), ``ExpiresOn`` = until when it must be remembered.

- ``use_once`` inserts the row: the service's 409 means the pair was used this hour (a replay). A pair is
  remembered at most ``MAX_REMEMBER_SECONDS`` (10 minutes), so a replay can only fall in the same hour or, near
  an hour's edge, in the next one: a use within ``MAX_REMEMBER_SECONDS`` of its hour's end also reads its row
  in the next hour, one within as much of its hour's start also reads the previous hour's. Both uses of a pair
  straddling an edge insert and then read the other's hour, so at least one of them sees the other (at worst
  both are refused: failing closed). A use costs one transaction, two near an hour's edge; one row.
- Rows are remembered until their hour's partitions are purged, at least an hour after their use:
  ``purge_expired`` deletes the hours before the previous one in batches (``gateway.housekeeping`` calls it; a
  missed purge only costs storage, never security).
- A missing table is created and the call retried once, as the other stores do.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from azure.data.tables.aio import TableClient, TableServiceClient

from gateway.clock import Clock, SystemClock
from gateway.stores.errors import AlreadyExists
from gateway.stores.keys import check_key
from gateway.stores.replay import MAX_REMEMBER_SECONDS, check_expiry
from gateway.stores.tables.buckets import bucket_of, partition_key, purge_buckets_before
from gateway.stores.tables.calls import _call, create_table_if_missing, read_entity
from gateway.stores.tables.entities import utc
from gateway.stores.tables.names import REPLAY_TABLE_SUFFIX

BUCKET_SECONDS = 3600.0
assert BUCKET_SECONDS >= 2 * MAX_REMEMBER_SECONDS  # a replay is never two buckets away


def row_key(client_id: str, jti: str) -> str:
    """SHA-256 of the pair (UTF-8; lone surrogates kept by ``surrogatepass``)."""
    return hashlib.sha256(f"{client_id}\x00{jti}".encode("utf-8", "surrogatepass")).hexdigest()


def neighbour_bucket(now: datetime) -> int | None:
    """The bucket a replay of a use at ``now`` may also fall in: the next one near the end of this one, the
    previous one near its start, else None."""
    bucket = bucket_of(now, BUCKET_SECONDS)
    into = now.timestamp() - bucket * BUCKET_SECONDS
    if BUCKET_SECONDS - into <= MAX_REMEMBER_SECONDS:
        return bucket + 1
    if into <= MAX_REMEMBER_SECONDS:
        return bucket - 1
    return None


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
        now = utc(self._clock.now())
        check_expiry(expires_at, now)
        key = row_key(client_id, jti)
        entity = {"PartitionKey": partition_key(bucket_of(now, BUCKET_SECONDS), key), "RowKey": key,
                  "ExpiresOn": utc(expires_at)}
        try:
            await _call(self._table, "use_once", lambda: self._table.create_entity(entity))
        except AlreadyExists:
            return False
        neighbour = neighbour_bucket(now)
        if neighbour is None:
            return True
        return await read_entity(self._table, partition_key(neighbour, key), "use_once", row=key) is None

    async def purge_expired(self, *, limit: int = 10_000) -> int:
        return await purge_buckets_before(self._table, bucket_of(utc(self._clock.now()), BUCKET_SECONDS) - 1,
                                          limit=limit, operation="purge")
