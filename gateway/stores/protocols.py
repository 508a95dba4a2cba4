"""Store interfaces. Table Storage, Key Vault and in-memory implementations satisfy them.

Error contract (``gateway.stores.errors``), shared by every implementation:

    StoreError
    ├── NotFound            the entity does not exist (only where noted; ``get`` returns None)
    ├── AlreadyExists       ``create`` of an existing key
    ├── PreconditionFailed  ``if_match`` ETag is stale (optimistic concurrency)
    └── StoreUnavailable    the service cannot be reached or failed (5xx, timeouts): retry later
        └── StoreThrottled  it refused the call for its rate (429, Server Busy): retry after ``retry_after``

    InvalidContinuation     (a ValueError, not a StoreError) a ``continuation`` this store did not issue

ETags are opaque strings; pass back the one an entity was read with. Keys
(tenant id, client id, audit record id) follow ``gateway.stores.keys``: an
invalid key raises ValueError on create, ``get`` gives None, replace/delete
NotFound. Listings: a page holds at most ``page_size`` items; follow
``continuation`` until it is None (only the last page may be empty).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Protocol

from gateway.stores.counters import FailureCounts
from gateway.stores.models import AuditRecord, Client, Page, Route, StoredSecret


class RouteStore(Protocol):
    async def get(self, tenant_id: str) -> Route | None: ...

    async def create(self, route: Route) -> Route:
        """Insert; raise AlreadyExists. Returns the stored route with its ETag and timestamps."""

    async def replace(self, route: Route, *, if_match: str | None = None) -> Route:
        """Replace an existing route (NotFound if absent, PreconditionFailed on a stale ``if_match``)."""

    async def delete(self, tenant_id: str, *, if_match: str | None = None) -> None:
        """Delete; NotFound if absent, PreconditionFailed on a stale ``if_match``."""

    async def list(self, *, page_size: int = 100, continuation: str | None = None) -> Page[Route]: ...


class ClientStore(Protocol):
    async def get(self, client_id: str) -> Client | None: ...

    async def create(self, client: Client) -> Client:
        """Insert; raise AlreadyExists."""

    async def replace(self, client: Client, *, if_match: str | None = None) -> Client:
        """Replace (NotFound / PreconditionFailed)."""

    async def delete(self, client_id: str, *, if_match: str | None = None) -> None:
        """Delete; NotFound if absent."""

    async def list(self, *, page_size: int = 100, continuation: str | None = None) -> Page[Client]: ...


class AuditStore(Protocol):
    async def append(self, record: AuditRecord) -> AuditRecord:
        """Write one record; returns it with its ``record_id``."""

    async def query(self, *, since: datetime | None = None, until: datetime | None = None,
                    page_size: int = 100, continuation: str | None = None) -> Page[AuditRecord]:
        """Records with since <= timestamp < until, newest first."""


class SecretStore(Protocol):
    """Key Vault secrets (names: letters, digits, hyphens; at most 127 characters)."""

    async def set(self, name: str, value: str, *, tags: dict[str, str] | None = None,
                  content_type: str | None = None, expires_on: datetime | None = None,
                  enabled: bool = True) -> StoredSecret:
        """Create a new version (the latest)."""

    async def get(self, name: str, version: str | None = None) -> StoredSecret | None:
        """Latest (or given) version with its value; None if absent or deleted."""

    async def versions(self, name: str) -> builtins.list[StoredSecret]:
        """Properties of every version of one secret, oldest first (``value`` is None); ``[]`` when absent."""

    async def list(self) -> list[StoredSecret]:
        """Properties of the latest version of every secret (``value`` is None)."""

    async def update(self, name: str, *, enabled: bool | None = None, tags: dict[str, str] | None = None,
                     expires_on: datetime | None = None) -> StoredSecret:
        """Update attributes of the latest version (NotFound if absent)."""

    async def delete(self, name: str) -> None:
        """Delete (soft delete in Key Vault) and purge when allowed; absent is not an error."""


class FailureCounterStore(Protocol):
    """Failure counters shared by every instance (``gateway.stores.counters``: fixed windows, one row per source
    address and window). Keys are opaque digests chosen by the caller (letters and digits).

    Only failed authentications touch it, never a successful one. Concurrent ``record_failure`` calls on one
    address, from any number of instances, each count exactly once (optimistic concurrency on the row's ETag).
    """

    async def record_failure(self, address_key: str, client_key: str | None, *, now: datetime,
                             window_seconds: float, address_limit: int, client_limit: int) -> FailureCounts:
        """Count one failure from ``address_key`` in the window of ``now``, and of ``client_key`` from it when
        given (a client that exists); the counts after it (``gateway.stores.counters.counted``)."""

    async def purge_expired(self, *, now: datetime, window_seconds: float, limit: int = 10_000) -> int:
        """Delete up to ``limit`` rows of windows that ended before the previous one; how many were deleted."""
