"""One Table Storage call with the store error contract (``gateway.stores.tables.failures``): the helpers every
table store of the gateway shares.

A missing table is ``TableMissing`` (StoreUnavailable, logged): a call never creates its table; only
:func:`create_table_if_missing` does, for the deployment's stand-ins (``TableStorage.ensure_tables``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables.aio import TableClient

from gateway.stores.tables.entities import ENTITY_ROW_KEY
from gateway.stores.tables.failures import error_code, storage_errors

R = TypeVar("R")


async def create_table_if_missing(table: TableClient, timeout: float | None = None) -> None:
    """Create ``table`` unless it exists (idempotent; safe when several workers race).

    Bounded by ``timeout`` like a read: a creation that lands late is harmless."""
    with storage_errors(table.table_name, "create table"):
        try:
            async with asyncio.timeout(timeout):
                await table.create_table()
        except ResourceExistsError as error:
            if error_code(error) == "TableBeingDeleted":
                raise


async def _call(table: TableClient, operation: str, action: Callable[[], Awaitable[R]],
                timeout: float | None = None) -> R:
    """Run ``action`` with SDK errors translated (a missing table: ``TableMissing``, never created here).

    ``timeout`` bounds the run (its TimeoutError becomes StoreUnavailable)."""
    with storage_errors(table.table_name, operation):
        async with asyncio.timeout(timeout):
            return await action()


async def read_entity(table: TableClient, key: str, operation: str, timeout: float | None = None, *,
                      row: str = ENTITY_ROW_KEY) -> tuple[Mapping[str, Any], str | None] | None:
    """The entity ``key`` (row ``row``) and its ETag, or None if there is no such entity (a missing table:
    ``TableMissing``); bounded by ``timeout``."""

    async def read() -> tuple[Mapping[str, Any], str | None] | None:
        try:
            entity = await table.get_entity(key, row)
        except ResourceNotFoundError as error:
            if error_code(error) == "TableNotFound":
                raise
            return None
        return entity, entity.metadata["etag"]

    return await _call(table, operation, read, timeout)
