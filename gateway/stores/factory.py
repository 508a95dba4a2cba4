"""Builds the Azure-backed stores from settings: Table Storage for routes, clients (with their change log and
the legacy client id index), audit, failure counters and client assertion ids, Key Vault for secrets and for
the provider assertion keys.

The Azure SDKs are imported inside :func:`open_azure_stores` so that modules
that never touch a store (the metadata function) do not pay for them at cold start; the Key Vault
keys client is opened on its first call (:class:`KeyVaultKeysOnFirstUse`): most workers never sign a
provider assertion.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.clock import Clock
from gateway.config import Settings
from gateway.lifecycle import close_resource
from gateway.stores.changes import ChangeLog
from gateway.stores.legacy_ids import LegacyClientIds
from gateway.stores.protocols import AuditStore, ClientStore, FailureCounterStore, RouteStore, SecretStore
from gateway.stores.provider_keys import ProviderKeyStore, ProviderKeyVersion
from gateway.stores.replay import ReplayStore

if TYPE_CHECKING:
    from gateway.stores.keyvault_keys import KeyVaultProviderKeyStore



@dataclass
class AzureStores:
    """The stores of one worker and what must be closed with them."""

    routes: RouteStore
    clients: ClientStore
    audit: AuditStore
    secrets: SecretStore
    failure_counters: FailureCounterStore | None = None
    replay: ReplayStore | None = None
    provider_keys: ProviderKeyStore | None = None
    changes: ChangeLog | None = None
    legacy_ids: LegacyClientIds | None = None
    _resources: list[Any] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close the secret store, then the Table service client (and their credentials). Idempotent."""
        resources, self._resources = self._resources, []
        for resource in reversed(resources):
            await close_resource(resource)


async def open_azure_stores(settings: Settings, clock: Clock | None = None, *,
                            create_tables: bool = False) -> AzureStores:
    """One Table service client and one Key Vault store for this worker.

    Opening costs no store call: a worker never creates a table (its identity holds data roles scoped to
    each table, which cannot create one; the Bicep template creates them), and a table that is missing
    answers StoreUnavailable (``TableMissing``, logged) until the deployment creates it. ``create_tables``:
    create the missing ones first (``make run``, the test fixtures and benchmarks: Azurite's stand-in for the
    deployment).
    """
    from gateway.stores.tables import open_table_storage
    from gateway.stores.tables.counters import TableFailureCounterStore
    from gateway.stores.tables.replay import TableReplayStore

    tables = open_table_storage(settings, clock)
    counters = TableFailureCounterStore(tables.service.get_table_client(tables.names.failures))
    replay = TableReplayStore(tables.service.get_table_client(tables.names.replay), clock)
    try:
        if create_tables:
            await tables.ensure_tables()
        from gateway.stores.keyvault import KeyVaultSecretStore

        secrets = KeyVaultSecretStore.from_settings(settings)
        if inspect.isawaitable(secrets):
            secrets = await secrets
    except BaseException:
        await tables.aclose()
        raise
    provider_keys = KeyVaultKeysOnFirstUse(settings)
    return AzureStores(routes=tables.routes, clients=tables.clients, audit=tables.audit, secrets=secrets,
                       failure_counters=counters, replay=replay, provider_keys=provider_keys,
                       changes=tables.changes, legacy_ids=tables.legacy_ids,
                       _resources=[tables, secrets, provider_keys])


class KeyVaultKeysOnFirstUse:
    """The provider key store on Key Vault keys (``gateway.stores.keyvault_keys``), opened on its first call."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store: KeyVaultProviderKeyStore | None = None

    def _opened(self) -> KeyVaultProviderKeyStore:
        if self._store is None:
            from gateway.stores.keyvault_keys import KeyVaultProviderKeyStore

            self._store = KeyVaultProviderKeyStore.from_settings(self._settings)
        return self._store

    async def create(self, name: str, alg: str, *, tags: dict[str, str] | None = None) -> ProviderKeyVersion:
        return await self._opened().create(name, alg, tags=tags)

    async def rotate(self, name: str) -> ProviderKeyVersion:
        return await self._opened().rotate(name)

    async def versions(self, name: str) -> list[ProviderKeyVersion]:
        return await self._opened().versions(name)

    async def names(self) -> list[str]:
        return await self._opened().names()

    async def sign(self, name: str, version: str, alg: str, digest: bytes) -> bytes:
        return await self._opened().sign(name, version, alg, digest)

    async def aclose(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.aclose()
