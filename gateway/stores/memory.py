"""In-memory twins of the stores, for unit tests. Same contract as the Azure-backed ones.

They follow Table Storage where it shows (tests/unit/stores/contracts.py runs on
both): keys obey ``gateway.stores.keys``, client secret and audit datetimes
come back as UTC, audit details come back as JSON values, records of the same
instant are ordered by record id, and a continuation the twin did not issue
raises InvalidContinuation.
"""

from __future__ import annotations

import builtins
import itertools
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar, overload

from gateway.clock import Clock, SystemClock
from gateway.stores.changes import ChangeKind, ChangeLog
from gateway.stores.counters import MAX_CLIENTS_PER_ROW, FailureCounts, counted, window_of
from gateway.stores.errors import AlreadyExists, InvalidContinuation, NotFound, PreconditionFailed, StoreUnavailable
from gateway.stores.keys import RESERVED_PREFIX, check_key, is_valid_key
from gateway.stores.models import AuditRecord, Client, Page, Route, StoredSecret

T = TypeVar("T", Route, Client)
P = TypeVar("P")  # what a page lists


def _utc(value: datetime) -> datetime:
    """As Table Storage gives datetimes back: timezone-aware UTC (naive taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@overload
def _normalized(item: Client) -> Client: ...
@overload
def _normalized(item: Route) -> Route: ...
def _normalized(item: Route | Client) -> Route | Client:
    if isinstance(item, Client):
        return replace(item, secrets=tuple(replace(s, created_on=_utc(s.created_on), expires_on=_utc(s.expires_on))
                                           for s in item.secrets))
    return item


class _Outage:
    """Lets tests switch a twin "off" to simulate an unreachable service."""

    available: bool = True

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("store unavailable (simulated)")


def _page(items: list[P], page_size: int, continuation: str | None) -> Page[P]:
    if not isinstance(page_size, int) or page_size < 1:
        raise ValueError("page_size must be a positive integer")
    start = 0
    if continuation is not None:
        if not (isinstance(continuation, str) and continuation.isascii() and continuation.isdigit()):
            raise InvalidContinuation("continuation token is not valid")
        start = int(continuation)
    chunk = items[start:start + page_size]
    nxt = start + page_size
    return Page(items=chunk, continuation=str(nxt) if nxt < len(items) else None)


class _KeyedMemoryStore(_Outage, Generic[T]):
    _key_field: str
    _kind: ChangeKind

    def __init__(self, clock: Clock | None = None, changes: ChangeLog | None = None) -> None:
        self._items: dict[str, T] = {}
        self._clock = clock or SystemClock()
        self._etags = itertools.count(1)
        self._changes = changes

    async def _record(self, key: str) -> None:
        """The change log first (``gateway.stores.changes``): a write it cannot record is not made."""
        if self._changes is not None:
            await self._changes.record(self._kind, key)

    def _key(self, item: T) -> str:
        key: str = getattr(item, self._key_field)  # Route.tenant_id or Client.client_id
        return key

    def _stamp(self, item: T, created: datetime | None) -> T:
        now = self._clock.now()
        return replace(_normalized(item), created_on=created or now, updated_on=now,
                       etag=f'W/"{next(self._etags)}"')

    async def get(self, key: str) -> T | None:
        self._check()
        return self._items.get(key) if is_valid_key(key) else None

    async def create(self, item: T) -> T:
        self._check()
        check_key(self._key(item), self._key_field)
        if self._key(item).startswith(RESERVED_PREFIX):
            raise ValueError(f"{self._key_field} must not start with {RESERVED_PREFIX!r} (reserved)")
        await self._record(self._key(item))
        if self._key(item) in self._items:
            raise AlreadyExists(self._key(item))
        stored = self._stamp(item, None)
        self._items[self._key(item)] = stored
        return stored

    async def replace(self, item: T, *, if_match: str | None = None) -> T:
        self._check()
        await self._record(self._key(item))
        current = self._items.get(self._key(item))
        if current is None:
            raise NotFound(self._key(item))
        if if_match is not None and if_match != current.etag:
            raise PreconditionFailed(self._key(item))
        stored = self._stamp(item, current.created_on)
        self._items[self._key(item)] = stored
        return stored

    async def delete(self, key: str, *, if_match: str | None = None) -> None:
        self._check()
        await self._record(key)
        current = self._items.get(key)
        if current is None:
            raise NotFound(key)
        if if_match is not None and if_match != current.etag:
            raise PreconditionFailed(key)
        del self._items[key]

    async def list(self, *, page_size: int = 100, continuation: str | None = None) -> Page[T]:
        self._check()
        return _page(sorted(self._items.values(), key=self._key), page_size, continuation)


class MemoryRouteStore(_KeyedMemoryStore[Route]):
    _key_field = "tenant_id"
    _kind = "route"


class MemoryClientStore(_KeyedMemoryStore[Client]):
    _key_field = "client_id"
    _kind = "client"


class MemoryAuditStore(_Outage):
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def append(self, record: AuditRecord) -> AuditRecord:
        self._check()
        # As in Table Storage: the id must be a valid key and details are stored as JSON (tuples come back as lists).
        details = json.loads(json.dumps(record.details))
        stored = replace(record, record_id=check_key(record.record_id or uuid.uuid4().hex, "record_id"),
                         timestamp=_utc(record.timestamp), details=details)
        if any(r.record_id == stored.record_id and r.timestamp == stored.timestamp for r in self.records):
            raise AlreadyExists(f"audit record {stored.record_id}")  # the same row key, as in the Table
        self.records.append(stored)
        return stored

    async def query(self, *, since: datetime | None = None, until: datetime | None = None,
                    page_size: int = 100, continuation: str | None = None) -> Page[AuditRecord]:
        self._check()
        since = _utc(since) if since is not None else None
        until = _utc(until) if until is not None else None
        chosen = [r for r in self.records
                  if (since is None or r.timestamp >= since) and (until is None or r.timestamp < until)]
        # Newest first; records of the same instant by record id, as the Table's row keys order them.
        chosen.sort(key=lambda r: r.record_id)
        chosen.sort(key=lambda r: r.timestamp, reverse=True)
        return _page(chosen, page_size, continuation)


class MemorySecretStore(_Outage):
    def __init__(self, clock: Clock | None = None) -> None:
        self._versions: dict[str, list[StoredSecret]] = {}
        self._clock = clock or SystemClock()

    async def set(self, name: str, value: str, *, tags: dict[str, str] | None = None,
                  content_type: str | None = None, expires_on: datetime | None = None,
                  enabled: bool = True) -> StoredSecret:
        self._check()
        return self.put(name, value, tags=tags, content_type=content_type, expires_on=expires_on, enabled=enabled)

    def put(self, name: str, value: str, *, tags: dict[str, str] | None = None, content_type: str | None = None,
            expires_on: datetime | None = None, enabled: bool = True) -> StoredSecret:
        """``set`` without an event loop (what a deployment's vault holds before a test starts)."""
        now = self._clock.now()
        secret = StoredSecret(name=name, value=value, version=uuid.uuid4().hex, enabled=enabled,
                              tags=dict(tags or {}), content_type=content_type, created_on=now,
                              updated_on=now, expires_on=expires_on)
        self._versions.setdefault(name, []).append(secret)
        return secret

    async def get(self, name: str, version: str | None = None) -> StoredSecret | None:
        self._check()
        versions = self._versions.get(name)
        if not versions:
            return None
        if version is None:
            return versions[-1]
        return next((v for v in versions if v.version == version), None)

    async def versions(self, name: str) -> builtins.list[StoredSecret]:
        self._check()
        return [replace(v, value=None) for v in self._versions.get(name, [])]

    async def list(self) -> list[StoredSecret]:
        self._check()
        return [replace(v[-1], value=None) for v in self._versions.values() if v]

    async def update(self, name: str, *, enabled: bool | None = None, tags: dict[str, str] | None = None,
                     expires_on: datetime | None = None) -> StoredSecret:
        self._check()
        versions = self._versions.get(name)
        if not versions:
            raise NotFound(name)
        latest = versions[-1]
        updated = replace(
            latest,
            enabled=latest.enabled if enabled is None else enabled,
            tags=latest.tags if tags is None else dict(tags),
            expires_on=latest.expires_on if expires_on is None else expires_on,
            updated_on=self._clock.now(),
        )
        versions[-1] = updated
        return replace(updated, value=None)

    async def delete(self, name: str) -> None:
        self._check()
        self._versions.pop(name, None)


class MemoryFailureCounterStore(_Outage):
    """Failure counters of one process (each call is atomic: no await between read and write)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[datetime, str], dict[str, int]] = {}

    async def record_failure(self, address_key: str, client_key: str | None, *, now: datetime,
                             window_seconds: float, address_limit: int, client_limit: int) -> FailureCounts:
        self._check()
        check_key(address_key, "counter key")
        start, _ = window_of(now, window_seconds)
        row = self._rows.setdefault((start, address_key), {})
        row[""] = row.get("", 0) + 1
        client = None
        if client_key is not None and (client_key in row or len(row) <= MAX_CLIENTS_PER_ROW):
            row[client_key] = row.get(client_key, 0) + 1
            client = counted(row[client_key], now=now, limit=client_limit, window_seconds=window_seconds)
        return FailureCounts(counted(row[""], now=now, limit=address_limit, window_seconds=window_seconds), client)

    async def purge_expired(self, *, now: datetime, window_seconds: float, limit: int = 10_000) -> int:
        self._check()
        cutoff = window_of(now, window_seconds)[0] - timedelta(seconds=window_seconds)
        stale = [key for key in self._rows if key[0] < cutoff][:limit]
        for key in stale:
            del self._rows[key]
        return len(stale)

    def row(self, address_key: str, *, now: datetime, window_seconds: float) -> dict[str, int]:
        """What the address's row holds in the window of ``now`` (``""``: the address's count; else client keys)."""
        return dict(self._rows.get((window_of(now, window_seconds)[0], address_key), {}))

    def __len__(self) -> int:
        return len(self._rows)
