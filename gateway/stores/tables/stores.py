"""Table Storage implementations of RouteStore, ClientStore and AuditStore (``gateway.stores.protocols``).

Built on ``azure.data.tables.aio``; one ``TableServiceClient`` per worker is
shared by the three stores (see :class:`TableStorage`). Optimistic concurrency
uses the entity's real ETag: ``replace(..., if_match=etag)`` becomes
``update_entity(mode=REPLACE, etag=etag, match_condition=IfNotModified)``
(https://learn.microsoft.com/rest/api/storageservices/update-entity2), and a
stale ETag is the service's 412 (PreconditionFailed).

A table is never created here on a call's way: a missing one is ``TableMissing``
(StoreUnavailable, logged), and only :meth:`TableStorage.ensure_tables` creates tables
(the local stand-in for the deployment's: ``make run``, fixtures, benchmarks).

Reads are bounded by ``read_timeout`` (``STORE_READ_TIMEOUT_SECONDS``): a service that
accepts connections but never answers costs a reader that long, then
StoreUnavailable, instead of the SDK's timeouts and retry. Writes are not cut
short here (a cancelled write may still land); the admin API bounds them
(``gateway.admin.attempts``).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, cast

from azure.core import MatchConditions
from azure.core.async_paging import AsyncItemPaged
from azure.data.tables import TableEntity, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from gateway.clock import Clock, SystemClock
from gateway.stores.changes import ChangeKind, ChangeLog
from gateway.stores.errors import NotFound, PreconditionFailed
from gateway.stores.keys import RESERVED_PREFIX, check_key, is_valid_key
from gateway.stores.models import AuditRecord, Client, Page, Route
from gateway.stores.tables.calls import _call, create_table_if_missing, read_entity
from gateway.stores.tables.changes import TableChangeLog
from gateway.stores.tables.continuation import decode_continuation, encode_continuation
from gateway.stores.tables.entities import (
    ENTITY_ROW_KEY,
    audit_filter,
    audit_from_entity,
    audit_to_entity,
    client_from_entity,
    client_to_entity,
    route_from_entity,
    route_to_entity,
    utc,
)
from gateway.stores.tables.legacy_ids import TableLegacyClientIds
from gateway.stores.tables.names import TableNames

T = TypeVar("T", Route, Client)
R = TypeVar("R")

MAX_PAGE_SIZE = 1000  # the service's $top limit per request


def _check_page_size(page_size: int) -> int:
    if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
        raise ValueError("page_size must be a positive integer")
    return page_size


async def _read_page(table: TableClient, page_size: int, continuation: str | None, *,
                     query_filter: str | None = None, parameters: dict[str, str] | None = None,
                     operation: str = "list", timeout: float | None = None) -> tuple[list[TableEntity], str | None]:
    """Up to ``page_size`` entities from ``continuation`` on, following the service's partial pages.

    The service may end a page early (partition boundaries, its 5 s limit) with
    a continuation; this keeps reading until the page is full or the listing
    ends, so a short page means the end, and only a last page can be empty.
    """
    _check_page_size(page_size)
    start = decode_continuation(continuation)

    async def read() -> tuple[list[TableEntity], str | None]:
        token = start
        items: list[TableEntity] = []
        while True:
            want = min(page_size - len(items), MAX_PAGE_SIZE)
            if query_filter:
                pager = table.query_entities(query_filter, parameters=parameters, results_per_page=want)
            else:
                pager = table.list_entities(results_per_page=want)
            pages = _entity_pages(pager, token)
            async for page in pages:
                items.extend([entity async for entity in page])
                break
            token = pages.continuation_token or None
            if token is None or len(items) >= page_size:
                return items, encode_continuation(token)

    return await _call(table, operation, read, timeout)



async def purge_where(table: TableClient, query: str, parameters: dict[str, Any], *, limit: int,
                      operation: str) -> int:
    """Delete up to ``limit`` entities matching the OData ``query``, each only as it was read (``If-Match``: one
    written again meanwhile is kept); the number deleted. Table Storage has no expiry of its own."""

    async def matching() -> list[tuple[str, str, str | None]]:
        found: list[tuple[str, str, str | None]] = []
        pager = table.query_entities(query, parameters=parameters, select=["PartitionKey", "RowKey"],
                                     results_per_page=min(limit, 1000))
        async for item in pager:
            found.append((item["PartitionKey"], item["RowKey"], item.metadata["etag"]))
            if len(found) >= limit:
                break
        return found

    deleted = 0
    for partition, row, etag in await _call(table, operation, matching):
        try:
            await _call(table, operation, functools.partial(_delete_unchanged, table, partition, row, etag))
        except (PreconditionFailed, NotFound):
            continue  # written again, or deleted by another instance, meanwhile
        deleted += 1
    return deleted


async def _delete_unchanged(table: TableClient, partition: str, row: str, etag: str | None) -> None:
    await table.delete_entity(partition, row, etag=etag, match_condition=MatchConditions.IfNotModified)

@dataclass(frozen=True)
class _EntityCodec(Generic[T]):
    """How one model maps to its Table entity and back (``gateway.stores.tables.entities``)."""

    to_entity: Callable[..., dict[str, Any]]  # (item, *, created_on, updated_on)
    from_entity: Callable[[Mapping[str, Any], str | None], T]  # (entity, etag)


class _EntityPages(Protocol):
    """The pages of a Table Storage listing as the SDK gives them: an async iterator of pages whose
    ``continuation_token`` is the service's next partition and row keys (None after the last page)."""

    continuation_token: dict[str, Any] | None

    def __aiter__(self) -> AsyncIterator[AsyncIterator[TableEntity]]: ...


def _entity_pages(pager: AsyncItemPaged[TableEntity], token: dict[str, Any] | None) -> _EntityPages:
    """The pages of ``pager`` from ``token`` on. azure-core declares ``by_page`` with a string token and a plain
    iterator; the tables SDK's pager takes and keeps its dict of next keys (``TableEntityPropertiesPaged``)."""
    pages = pager.by_page(continuation_token=token)  # type: ignore[arg-type]  # a dict here, see above
    return cast(_EntityPages, pages)


class _KeyedTableStore(Generic[T]):
    """One entity per key (PartitionKey = key, RowKey = ""): the shape of routes and clients."""

    _key_field: str
    _codec: _EntityCodec[T]
    _kind: ChangeKind

    def __init__(self, table: TableClient, clock: Clock | None = None, *, read_timeout: float | None = None,
                 changes: ChangeLog | None = None) -> None:
        self._table = table
        self._clock = clock or SystemClock()
        self._read_timeout = read_timeout
        self._changes = changes

    async def _record(self, key: str) -> None:
        """The change log first (``gateway.stores.changes``): a write it cannot record is not made."""
        if self._changes is not None:
            await self._changes.record(self._kind, key)

    @property
    def table_name(self) -> str:
        return self._table.table_name

    def _not_found(self, operation: str) -> NotFound:
        return NotFound(f"{operation} on table {self.table_name}: no such entity")

    async def _read(self, key: str, operation: str) -> tuple[Mapping[str, Any], str | None] | None:
        """The entity and its ETag, or None if there is no such entity."""
        return await read_entity(self._table, key, operation, self._read_timeout)

    async def get(self, key: str) -> T | None:
        if not is_valid_key(key) or key.startswith(RESERVED_PREFIX):
            return None  # such a key cannot exist
        found = await self._read(key, "get")
        return None if found is None else self._codec.from_entity(*found)

    async def create(self, item: T) -> T:
        key = check_key(getattr(item, self._key_field), self._key_field)
        if key.startswith(RESERVED_PREFIX):
            raise ValueError(f"{self._key_field} must not start with {RESERVED_PREFIX!r} (reserved)")
        await self._record(key)
        now = self._clock.now()
        entity = self._codec.to_entity(item, created_on=now, updated_on=now)
        metadata = await _call(self._table, "create", lambda: self._table.create_entity(entity))
        return self._codec.from_entity(entity, metadata["etag"])

    async def replace(self, item: T, *, if_match: str | None = None) -> T:
        """Replace the whole entity, keeping its ``created_on``.

        Reads the entity first (for ``created_on`` and an early NotFound /
        PreconditionFailed), then writes with ``If-Match: <if_match>`` or, without
        ``if_match``, unconditionally (last writer wins); either way the write
        never creates an entity deleted in between (NotFound).
        """
        key = getattr(item, self._key_field)
        if not is_valid_key(key) or key.startswith(RESERVED_PREFIX):
            raise self._not_found("replace")
        found = await self._read(key, "replace")
        if found is None:
            raise self._not_found("replace")
        current, etag = found
        if if_match is not None and if_match != etag:
            raise PreconditionFailed(
                f"replace on table {self.table_name}: the entity changed since it was read (ETag mismatch)")
        await self._record(key)
        entity = self._codec.to_entity(item, created_on=current.get("CreatedOn") or self._clock.now(),
                                       updated_on=self._clock.now())
        condition = MatchConditions.IfNotModified if if_match is not None else MatchConditions.Unconditionally
        try:
            metadata = await _call(self._table, "replace", lambda: self._table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=if_match, match_condition=condition))
        except NotFound:
            raise self._not_found("replace") from None
        return self._codec.from_entity(entity, metadata["etag"])

    async def delete(self, key: str, *, if_match: str | None = None) -> None:
        if not is_valid_key(key) or key.startswith(RESERVED_PREFIX):
            raise self._not_found("delete")
        await self._record(key)
        statuses: list[int] = []

        def remember_status(pipeline_response: Any) -> None:
            statuses.append(pipeline_response.http_response.status_code)

        condition = MatchConditions.IfNotModified if if_match is not None else MatchConditions.Unconditionally
        # The SDK swallows a 404 on delete; the response hook lets us report NotFound as the contract says.
        await _call(self._table, "delete", lambda: self._table.delete_entity(
            key, ENTITY_ROW_KEY, etag=if_match, match_condition=condition, raw_response_hook=remember_status))
        if statuses and statuses[-1] == 404:
            raise self._not_found("delete")

    async def list(self, *, page_size: int = 100, continuation: str | None = None) -> Page[T]:
        """Entities in key order (never the reserved partitions, which sort after every key)."""
        entities, token = await _read_page(self._table, page_size, continuation, timeout=self._read_timeout,
                                           query_filter="PartitionKey lt @reserved",
                                           parameters={"reserved": RESERVED_PREFIX})
        return Page(items=[self._codec.from_entity(e, e.metadata["etag"]) for e in entities], continuation=token)


class TableRouteStore(_KeyedTableStore[Route]):
    """RouteStore on the ``<prefix>routes`` table."""

    _key_field = "tenant_id"
    _codec = _EntityCodec(route_to_entity, route_from_entity)
    _kind = "route"


class TableClientStore(_KeyedTableStore[Client]):
    """ClientStore on the ``<prefix>clients`` table."""

    _key_field = "client_id"
    _codec = _EntityCodec(client_to_entity, client_from_entity)
    _kind = "client"


class TableAuditStore:
    """AuditStore on the ``<prefix>audit`` table: newest first, since/until as a key-range scan."""

    def __init__(self, table: TableClient, id_factory: Callable[[], str] = lambda: uuid.uuid4().hex, *,
                 read_timeout: float | None = None) -> None:
        self._table = table
        self._new_id = id_factory
        self._read_timeout = read_timeout

    @property
    def table_name(self) -> str:
        return self._table.table_name

    async def append(self, record: AuditRecord) -> AuditRecord:
        stored = replace(record, record_id=check_key(record.record_id or self._new_id(), "record_id"),
                         timestamp=utc(record.timestamp))
        entity = audit_to_entity(stored)
        await _call(self._table, "append", lambda: self._table.create_entity(entity))
        return audit_from_entity(entity)

    async def query(self, *, since: datetime | None = None, until: datetime | None = None,
                    page_size: int = 100, continuation: str | None = None) -> Page[AuditRecord]:
        """Records with ``since <= timestamp < until``, newest first (same instant: by record id)."""
        _check_page_size(page_size)
        if since is not None and until is not None and utc(since) >= utc(until):
            decode_continuation(continuation)
            return Page(items=[])
        query_filter, parameters = audit_filter(since, until)
        entities, token = await _read_page(self._table, page_size, continuation, query_filter=query_filter or None,
                                           parameters=parameters, operation="query", timeout=self._read_timeout)
        return Page(items=[audit_from_entity(e) for e in entities], continuation=token)


class TableStorage:
    """The gateway's three tables on one ``TableServiceClient`` (one per worker)."""

    def __init__(self, service: TableServiceClient, prefix: str, clock: Clock | None = None, *,
                 credential: Any = None, read_timeout: float | None = None) -> None:
        self.service = service
        self._credential = credential
        self.names = TableNames.for_prefix(prefix)
        self._read_timeout = read_timeout
        self._tables = [service.get_table_client(name) for name in self.names.all()]

        routes, clients, audit = self._tables[:3]  # then failure counters (tables.counters), replay (tables.replay)
        self.changes = TableChangeLog(clients, clock, read_timeout=read_timeout)
        self.legacy_ids = TableLegacyClientIds(clients, read_timeout=read_timeout)
        self.routes = TableRouteStore(routes, clock, read_timeout=read_timeout, changes=self.changes)
        self.clients = TableClientStore(clients, clock, read_timeout=read_timeout, changes=self.changes)
        self.audit = TableAuditStore(audit, read_timeout=read_timeout)

    async def ensure_tables(self) -> None:
        """Create the tables that do not exist yet (idempotent)."""
        for table in self._tables:
            await create_table_if_missing(table, self._read_timeout)

    async def aclose(self) -> None:
        """Close the service client (its HTTP session) and the credential it owns."""
        await self.service.close()
        if self._credential is not None:
            await self._credential.close()
