"""FailureCounterStore on Table Storage: the ``<prefix>authfailures`` table.

One entity per key (``PartitionKey`` = key, ``RowKey`` = ""), columns
``Failures``, ``WindowStart`` and ``LockedUntil``. A failure is read, counted
(``gateway.stores.counters.counted``) and written back conditioned on the ETag
it was read with (``If-Match``, https://learn.microsoft.com/rest/api/storageservices/update-entity2),
or inserted when there was none; a 412 or 409 means another instance counted
in between, so it reads and counts again. An expired counter is overwritten by
the next failure of its key, or deleted by ``purge_expired`` (``gateway.housekeeping``).
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from gateway.stores.counters import FailureCount, counted
from gateway.stores.errors import AlreadyExists, PreconditionFailed, StoreUnavailable
from gateway.stores.keys import check_key, is_valid_key
from gateway.stores.tables.entities import ENTITY_ROW_KEY, utc
from gateway.stores.tables.stores import _call, purge_where, read_entity

MAX_ATTEMPTS = 20
"""Conditional writes tried per failure before giving up (StoreUnavailable) under heavy contention."""


def _from_entity(entity: Mapping[str, Any]) -> FailureCount:
    locked = entity.get("LockedUntil")
    return FailureCount(count=int(entity["Failures"]), window_start=utc(entity["WindowStart"]),
                        locked_until=utc(locked) if isinstance(locked, datetime) else None)


def _to_entity(key: str, value: FailureCount) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": key, "RowKey": ENTITY_ROW_KEY, "Failures": value.count,
                              "WindowStart": value.window_start}
    if value.locked_until is not None:
        entity["LockedUntil"] = value.locked_until
    return entity


class TableFailureCounterStore:
    """Failure counters shared by every instance through one table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    @property
    def table_name(self) -> str:
        return self._table.table_name

    async def _read(self, key: str) -> tuple[FailureCount, str | None] | None:
        found = await read_entity(self._table, key, "read counter")
        return None if found is None else (_from_entity(found[0]), found[1])

    async def record_failure(self, key: str, *, now: datetime, limit: int, window_seconds: float) -> FailureCount:
        check_key(key, "counter key")
        now = utc(now)
        for attempt in range(MAX_ATTEMPTS):
            found = await self._read(key)
            current, etag = found if found is not None else (None, None)
            updated = counted(current, now=now, limit=limit, window_seconds=window_seconds)
            entity = _to_entity(key, updated)
            try:
                await _call(self._table, "count failure", functools.partial(self._write, entity, etag))
                return updated
            except (PreconditionFailed, AlreadyExists):
                await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 - jitter, not a secret
        raise StoreUnavailable(f"count failure on table {self.table_name}: too much contention")

    async def _write(self, entity: dict[str, Any], etag: str | None) -> Mapping[str, Any]:
        """Insert (no ETag: there was no counter) or replace the counter read with ``etag``."""
        if etag is None:
            return await self._table.create_entity(entity)
        return await self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                               match_condition=MatchConditions.IfNotModified)

    async def get(self, key: str, *, now: datetime, window_seconds: float) -> FailureCount | None:
        if not is_valid_key(key):
            return None
        found = await self._read(key)
        if found is None or found[0].expired_at(utc(now), window_seconds):
            return None
        return found[0]

    async def purge_expired(self, *, now: datetime, window_seconds: float, limit: int = 1000) -> int:
        cutoff = utc(now) - timedelta(seconds=2 * window_seconds)
        return await purge_where(self._table, "WindowStart le @cutoff", {"cutoff": cutoff}, limit=limit,
                                 operation="purge counters")
