"""Builds the Azure-backed stores from settings: Table Storage for routes, clients (with their change log and
the legacy client id index), audit, failure counters and client assertion ids, Key Vault for secrets.

The Azure SDKs are imported inside :func:`open_azure_stores` so that modules
that never touch a store (the metadata function) do not pay for them at cold start.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

from gateway.clock import Clock
from gateway.config import Settings
from gateway.lifecycle import close_resource
from gateway.stores.changes import ChangeLog
from gateway.stores.errors import StoreError
from gateway.stores.legacy_ids import LegacyClientIds
from gateway.stores.protocols import AuditStore, ClientStore, FailureCounterStore, RouteStore, SecretStore
from gateway.stores.replay import ReplayStore

log = logging.getLogger(__name__)


@dataclass
class AzureStores:
    """The stores of one worker and what must be closed with them."""

    routes: RouteStore
    clients: ClientStore
    audit: AuditStore
    secrets: SecretStore
    failure_counters: FailureCounterStore | None = None
    replay: ReplayStore | None = None
    changes: ChangeLog | None = None
    legacy_ids: LegacyClientIds | None = None
    _resources: list[Any] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close the secret store, then the Table service client (and their credentials). Idempotent."""
        resources, self._resources = self._resources, []
        for resource in reversed(resources):
            await close_resource(resource)


async def open_azure_stores(settings: Settings, clock: Clock | None = None) -> AzureStores:
    """One Table service client and one Key Vault store for this worker.

    Creates the tables when missing (idempotent). If that fails (the identity
    may lack the right to create tables in Azure, where the Bicep template
    creates them, or the service is briefly down) it logs a warning and goes on:
    the stores raise StoreUnavailable until the service answers.
    """
    from gateway.stores.tables import open_table_storage
    from gateway.stores.tables.counters import TableFailureCounterStore
    from gateway.stores.tables.replay import TableReplayStore

    tables = open_table_storage(settings, clock)
    counters = TableFailureCounterStore(tables.service.get_table_client(tables.names.failures))
    replay = TableReplayStore(tables.service.get_table_client(tables.names.replay), clock)
    try:
        try:
            await tables.ensure_tables()
        except StoreError as error:
            log.warning("could not ensure the gateway's tables exist (%s); continuing", error)

        from gateway.stores.keyvault import KeyVaultSecretStore

        secrets = KeyVaultSecretStore.from_settings(settings)
        if inspect.isawaitable(secrets):
            secrets = await secrets
    except BaseException:
        await tables.aclose()
        raise
    return AzureStores(routes=tables.routes, clients=tables.clients, audit=tables.audit, secrets=secrets,
                       failure_counters=counters, replay=replay, changes=tables.changes,
                       legacy_ids=tables.legacy_ids, _resources=[tables, secrets])
