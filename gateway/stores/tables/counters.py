"""FailureCounterStore on Table Storage: the ``<prefix>authfailures`` table, one row per address and window.

Row: ``PartitionKey`` = the window's bucket and a shard (``gateway.stores.tables.buckets``), ``RowKey`` = the
address key; ``Failures`` = the address's failures in the window, and ``c<client key>`` = the failures of one
client from it. A failure reads the row and writes it back conditioned on the ETag it was read with
(``If-Match``, https://learn.microsoft.com/rest/api/storageservices/update-entity2), or inserts it: two
transactions, one row. A 412 or 409 means another instance counted in between: read and count again (with
jitter). Rows of past windows are deleted by partition, in batches (``purge_expired``, run by
``gateway.housekeeping``).
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from gateway.stores.counters import MAX_CLIENTS_PER_ROW, FailureCounts, counted
from gateway.stores.errors import AlreadyExists, PreconditionFailed, StoreUnavailable
from gateway.stores.keys import check_key
from gateway.stores.tables.buckets import bucket_of, partition_key, purge_buckets_before
from gateway.stores.tables.calls import _call, read_entity
from gateway.stores.tables.entities import utc

MAX_ATTEMPTS = 20
"""Conditional writes tried per failure before giving up (StoreUnavailable) under heavy contention."""
ADDRESS_COLUMN = "Failures"


def _client_column(client_key: str) -> str:
    if not client_key.isascii() or not client_key.isalnum():
        raise ValueError("a client key is letters and digits")
    return f"c{client_key}"


def _counted_row(found: Mapping[str, Any] | None, keys: tuple[str, str], client_column: str | None) -> dict[str, Any]:
    """The row with one more failure of the address (and of the client, while the row has room)."""
    row: dict[str, Any] = {"PartitionKey": keys[0], "RowKey": keys[1], **{
        k: v for k, v in (found or {}).items() if k not in ("PartitionKey", "RowKey")}}
    row[ADDRESS_COLUMN] = int(row.get(ADDRESS_COLUMN, 0)) + 1
    clients = sum(1 for k in row if k.startswith("c"))
    if client_column is not None and (client_column in row or clients < MAX_CLIENTS_PER_ROW):
        row[client_column] = int(row.get(client_column, 0)) + 1
    return row


class TableFailureCounterStore:
    """Failure counters shared by every instance through one table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    @property
    def table_name(self) -> str:
        return self._table.table_name

    async def record_failure(self, address_key: str, client_key: str | None, *, now: datetime,
                             window_seconds: float, address_limit: int, client_limit: int) -> FailureCounts:
        check_key(address_key, "counter key")
        now = utc(now)
        column = _client_column(client_key) if client_key is not None else None
        keys = (partition_key(bucket_of(now, window_seconds), address_key), address_key)
        for attempt in range(MAX_ATTEMPTS):
            found = await read_entity(self._table, keys[0], "read counter", row=keys[1])
            row = _counted_row(found[0] if found else None, keys, column)
            try:
                await _call(self._table, "count failure",
                            functools.partial(self._write, row, found[1] if found else None))
            except (PreconditionFailed, AlreadyExists):
                await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 - jitter, not a secret
                continue
            client = (counted(row[column], now=now, limit=client_limit, window_seconds=window_seconds)
                      if column is not None and column in row else None)
            return FailureCounts(counted(row[ADDRESS_COLUMN], now=now, limit=address_limit,
                                         window_seconds=window_seconds), client)
        raise StoreUnavailable(f"count failure on table {self.table_name}: too much contention")

    async def _write(self, row: dict[str, Any], etag: str | None) -> Mapping[str, Any]:
        """Insert (no ETag: there was no row) or replace the row read with ``etag``."""
        if etag is None:
            return await self._table.create_entity(row)
        return await self._table.update_entity(row, mode=UpdateMode.REPLACE, etag=etag,
                                               match_condition=MatchConditions.IfNotModified)

    async def purge_expired(self, *, now: datetime, window_seconds: float, limit: int = 10_000) -> int:
        """Rows of windows before the previous one (a clock a little behind still finds its row)."""
        return await purge_buckets_before(self._table, bucket_of(utc(now), window_seconds) - 1, limit=limit,
                                          operation="purge counters")
