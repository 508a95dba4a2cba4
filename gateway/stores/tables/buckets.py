"""Time-bucketed partitions: rows that expire together are stored together, and deleted together.

Rows a caller's traffic leaves behind (failure counters, spent assertion ids) are keyed by the bucket of time
they belong to: ``PartitionKey = "t<bucket>-<shard>"``, the bucket a number of ``bucket_seconds`` since the
epoch, the shard (one of ``SHARDS``) from the row key, so that one bucket's rows spread over several partitions
(Table Storage serves about 2,000 entities a second per partition,
https://learn.microsoft.com/azure/storage/tables/scalability-targets). Purging a bucket is then a key-range
query of the partitions before it (``PartitionKey lt 't<bucket>'``, keys only) and deletes in entity group
transactions of up to ``BATCH_SIZE`` rows of one partition
(https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions): about one
transaction per hundred rows, where a row-by-row purge costs two per row.

Rows written under an earlier layout (partition keys that do not start with ``t``) sort before every bucket, so
the same purge removes them.
"""

from __future__ import annotations

import functools
import logging
import zlib
from collections.abc import Iterator
from datetime import datetime
from itertools import groupby, islice

from azure.data.tables.aio import TableClient

from gateway.stores.errors import StoreError, StoreUnavailable
from gateway.stores.tables.calls import _call

logger = logging.getLogger("gateway.stores")

SHARDS = 16
BATCH_SIZE = 100
PAGE_SIZE = 1000


def bucket_of(moment: datetime, bucket_seconds: float) -> int:
    return int(moment.timestamp() // bucket_seconds)


def partition_key(bucket: int, row_key: str) -> str:
    """The partition of ``row_key`` in ``bucket``."""
    shard = zlib.crc32(row_key.encode("utf-8")) % SHARDS
    return f"{bucket_prefix(bucket)}-{shard:x}"


def bucket_prefix(bucket: int) -> str:
    """Every partition of ``bucket`` starts with this; every earlier bucket's sorts before it."""
    return f"t{bucket:012d}"


def _batches(keys: list[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    """Keys of one partition at a time, at most ``BATCH_SIZE`` together."""
    for _, group in groupby(keys, key=lambda key: key[0]):
        rows = iter(list(group))
        while batch := list(islice(rows, BATCH_SIZE)):
            yield batch


async def purge_buckets_before(table: TableClient, bucket: int, *, limit: int, operation: str) -> int:
    """Delete up to ``limit`` rows of the buckets before ``bucket`` (and of any earlier layout); how many were
    deleted. A batch another instance purged part of at the same time fails whole and is left to the next
    purge (the rows are past their use either way)."""

    async def expired() -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        pager = table.query_entities("PartitionKey lt @before", parameters={"before": bucket_prefix(bucket)},
                                     select=["PartitionKey", "RowKey"], results_per_page=min(limit, PAGE_SIZE))
        async for item in pager:
            found.append((item["PartitionKey"], item["RowKey"]))
            if len(found) >= limit:
                break
        return found

    deleted = 0
    for batch in _batches(await _call(table, operation, expired)):
        operations = [("delete", {"PartitionKey": partition, "RowKey": row}) for partition, row in batch]
        try:
            await _call(table, operation, functools.partial(table.submit_transaction, operations))
        except StoreUnavailable:
            raise
        except StoreError as error:
            logger.info("purge: a batch of %d rows was skipped (%s)", len(batch), type(error).__name__)
            continue
        deleted += len(batch)
    return deleted
