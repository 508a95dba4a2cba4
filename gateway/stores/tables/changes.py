"""The change log (``gateway.stores.changes``) on Table Storage, in the clients table.

Rows under the reserved partition ``~changes`` (``~`` sorts after every client id; the client listing stops
before it): ``RowKey`` = the recording time in microseconds (18 digits, so that key order is time order) and a
random suffix, ``Kind`` and ``Key``. ``since`` is a key-range query of that one partition: it reads the few
changes of the last seconds, whatever the number of routes and clients. One partition is enough: it takes the
administrators' writes only.
"""

from __future__ import annotations

import functools
import secrets
from datetime import UTC, datetime, timedelta

from azure.data.tables.aio import TableClient

from gateway.clock import Clock, SystemClock
from gateway.stores.changes import Change, ChangeKind
from gateway.stores.tables.buckets import BATCH_SIZE
from gateway.stores.tables.calls import _call
from gateway.stores.tables.entities import utc

CHANGES_PARTITION = "~changes"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time_key(moment: datetime) -> str:
    return f"{(utc(moment) - _EPOCH) // timedelta(microseconds=1):018d}"


def _time_of(row_key: str) -> datetime:
    return _EPOCH + timedelta(microseconds=int(row_key[:18]))


class TableChangeLog:
    """The change log on the clients table."""

    def __init__(self, table: TableClient, clock: Clock | None = None, *, read_timeout: float | None = None) -> None:
        self._table = table
        self._clock = clock or SystemClock()
        self._read_timeout = read_timeout

    async def record(self, kind: ChangeKind, key: str) -> None:
        entity = {"PartitionKey": CHANGES_PARTITION, "RowKey": f"{_time_key(self._clock.now())}-{secrets.token_hex(4)}",
                  "Kind": kind, "Key": key}
        await _call(self._table, "record change", lambda: self._table.create_entity(entity))

    async def since(self, moment: datetime) -> list[Change]:
        async def read() -> list[Change]:
            pager = self._table.query_entities("PartitionKey eq @p and RowKey ge @low",
                                               parameters={"p": CHANGES_PARTITION, "low": _time_key(moment)})
            return [Change(entity["Kind"], entity["Key"], _time_of(entity["RowKey"])) async for entity in pager]

        return await _call(self._table, "read changes", read, self._read_timeout)

    async def purge_before(self, moment: datetime, *, limit: int = 10_000) -> int:
        async def old_keys() -> list[str]:
            pager = self._table.query_entities("PartitionKey eq @p and RowKey lt @cutoff", select=["RowKey"],
                                               parameters={"p": CHANGES_PARTITION, "cutoff": _time_key(moment)})
            keys: list[str] = []
            async for entity in pager:
                keys.append(entity["RowKey"])
                if len(keys) >= limit:
                    break
            return keys

        keys = await _call(self._table, "purge changes", old_keys)
        for start in range(0, len(keys), BATCH_SIZE):
            batch = [("delete", {"PartitionKey": CHANGES_PARTITION, "RowKey": key})
                     for key in keys[start:start + BATCH_SIZE]]
            await _call(self._table, "purge changes", functools.partial(self._table.submit_transaction, batch))
        return len(keys)
