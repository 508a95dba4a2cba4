"""The per-worker ``TableServiceClient``, built from settings.

Locally (Azurite) from ``TABLES_CONNECTION_STRING``; in Azure from
``TABLES_ENDPOINT`` with a managed identity
(``gateway.managed_identity.store_credential``). The transport fails fast: a store
call that cannot be served quickly raises StoreUnavailable so that callers can
serve a stale cached answer instead of hanging.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from azure.data.tables.aio import TableServiceClient

from gateway.clock import Clock
from gateway.config import Settings, SettingsError
from gateway.managed_identity import store_credential
from gateway.stores.tables.stores import TableStorage


@dataclass(frozen=True)
class TransportOptions:
    """azure-core retry and transport settings (one retry, immediately; short timeouts)."""

    retry_total: int = 1
    retry_backoff_factor: float = 0.2
    retry_backoff_max: int = 2
    connection_timeout: float = 3.0
    read_timeout: float = 10.0


FAIL_FAST = TransportOptions()


def table_service_client(settings: Settings, options: TransportOptions = FAIL_FAST) -> tuple[TableServiceClient, Any]:
    """The service client and the credential it owns (None with a connection string)."""
    kwargs = asdict(options)
    if settings.tables_connection_string:
        return TableServiceClient.from_connection_string(settings.tables_connection_string, **kwargs), None
    if settings.tables_endpoint:
        credential = store_credential(settings.azure_client_id)
        return TableServiceClient(endpoint=settings.tables_endpoint, credential=credential, **kwargs), credential
    raise SettingsError("TABLES_CONNECTION_STRING or TABLES_ENDPOINT: one of them must be set to use Table Storage")


def open_table_storage(settings: Settings, clock: Clock | None = None,
                       options: TransportOptions = FAIL_FAST) -> TableStorage:
    """The gateway's tables for ``settings`` (call ``ensure_tables()`` and, at the end, ``aclose()``)."""
    service, credential = table_service_client(settings, options)
    return TableStorage(service, settings.table_name_prefix, clock, credential=credential,
                        read_timeout=settings.store_read_timeout_seconds)
