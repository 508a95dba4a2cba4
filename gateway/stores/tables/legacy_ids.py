"""The legacy client id index (``gateway.stores.legacy_ids``) in the clients table.

Rows under the reserved partition ``~legacy-client-ids`` (``~`` sorts after every client id, and the client
listing stops before it), ``RowKey`` = ``0000``, ``0001``...; each row holds up to ``COLUMNS_PER_ROW`` binary
columns ``H00``... of up to ``DIGESTS_PER_COLUMN`` sorted 8-byte digests (64 KiB, Table Storage's limit for a
binary property) and ``Count``. About 120,000 ids per row (under the 1 MiB entity limit); one query reads them
all (https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from gateway.stores.legacy_ids import DIGEST_BYTES, id_digest
from gateway.stores.tables.calls import _call

LEGACY_PARTITION = "~legacy-client-ids"
DIGESTS_PER_COLUMN = 65536 // DIGEST_BYTES
COLUMNS_PER_ROW = 15


def _rows(digests: list[bytes]) -> list[dict[str, Any]]:
    per_row = DIGESTS_PER_COLUMN * COLUMNS_PER_ROW
    rows = []
    for number, start in enumerate(range(0, max(len(digests), 1), per_row)):
        chunk = digests[start:start + per_row]
        row: dict[str, Any] = {"PartitionKey": LEGACY_PARTITION, "RowKey": f"{number:04d}", "Count": len(chunk)}
        for column, at in enumerate(range(0, len(chunk), DIGESTS_PER_COLUMN)):
            row[f"H{column:02d}"] = b"".join(chunk[at:at + DIGESTS_PER_COLUMN])
        rows.append(row)
    return rows


class TableLegacyClientIds:
    """The index on the clients table."""

    def __init__(self, table: TableClient, *, read_timeout: float | None = None) -> None:
        self._table = table
        self._read_timeout = read_timeout

    async def _read_rows(self) -> list[dict[str, Any]]:
        async def read() -> list[dict[str, Any]]:
            pager = self._table.query_entities("PartitionKey eq @p", parameters={"p": LEGACY_PARTITION})
            return [dict(entity) async for entity in pager]

        return await _call(self._table, "read legacy ids", read, self._read_timeout)

    async def load(self) -> frozenset[bytes] | None:
        rows = await self._read_rows()
        if not rows:
            return None
        digests: set[bytes] = set()
        for row in rows:
            for name, value in row.items():
                if name.startswith("H") and isinstance(value, bytes):
                    digests.update(value[at:at + DIGEST_BYTES] for at in range(0, len(value), DIGEST_BYTES))
        return frozenset(digests)

    async def write(self, client_ids: Iterable[str]) -> int:
        digests = sorted({id_digest(client_id) for client_id in client_ids})
        rows = _rows(digests)
        stale = [row["RowKey"] for row in await self._read_rows()][len(rows):]
        for row in rows:
            await _call(self._table, "write legacy ids",
                        functools.partial(self._table.upsert_entity, row, mode=UpdateMode.REPLACE))
        for row_key in stale:
            await _call(self._table, "write legacy ids",
                        functools.partial(self._table.delete_entity, LEGACY_PARTITION, row_key))
        return len(digests)
