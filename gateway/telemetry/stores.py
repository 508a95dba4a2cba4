"""Client spans of store calls: Table Storage (routes, clients, audit) and Key Vault (secrets and keys).

The Azure SDK's own OpenTelemetry spans (``azure-core-tracing-opentelemetry``, which the distro
would switch on) record full request URLs: table keys, OData filters and Key Vault secret names,
which carry client ids and secret ids. The gateway switches them off and records its own span
per store operation instead: a dependency named after the operation (``clients.get``) whose
target is the store's host, with no key, filter, name or value.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from gateway.telemetry.recorder import Recorder

if TYPE_CHECKING:
    from gateway.stores.factory import AzureStores

T = TypeVar("T")
_TABLES_DEV_HOST = "127.0.0.1:10002"


class TracedStore:
    """Wraps one store; every public coroutine method runs inside a client span."""

    def __init__(self, inner: Any, *, kind: str, system: str, target: str, recorder: Recorder) -> None:
        self._inner = inner
        self._kind = kind
        self._attributes = {"db.system": system, "peer.service": target}
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or name in ("aclose", "close") or not inspect.iscoroutinefunction(value):
            return value
        operation = f"{self._kind}.{name}"
        recorder, attributes = self._recorder, {**self._attributes, "db.operation": operation}

        async def traced(*args: Any, **kwargs: Any) -> Any:
            with recorder.client_span(operation, attributes):
                return await value(*args, **kwargs)

        return traced


def table_target(settings: Any) -> str:
    """The Table Storage host of ``settings`` (endpoint, or what the connection string names; never its key)."""
    if getattr(settings, "tables_endpoint", None):
        return _host(settings.tables_endpoint)
    text = getattr(settings, "tables_connection_string", None) or ""
    fields = {key.strip().lower(): value.strip()
              for key, _, value in (part.partition("=") for part in text.split(";")) if value}
    if "tableendpoint" in fields:
        return _host(fields["tableendpoint"])
    if fields.get("usedevelopmentstorage", "").lower() == "true":
        return _TABLES_DEV_HOST
    if "accountname" in fields:
        return f"{fields['accountname']}.table.{fields.get('endpointsuffix', 'core.windows.net')}"
    return "table-storage"


def vault_target(settings: Any) -> str:
    url = getattr(settings, "key_vault_url", None)
    return _host(url) if url else "key-vault"


def _host(url: str) -> str:
    parts = urlsplit(url.strip())
    return parts.netloc.rsplit("@", 1)[-1] or "unknown"


def trace_stores(stores: AzureStores, settings: Any, recorder: Recorder) -> AzureStores:
    """``stores`` with each store traced."""
    tables, vault = table_target(settings), vault_target(settings)

    def wrap(store: T, kind: str, system: str, target: str) -> T:
        # A TracedStore answers every attribute of the store it wraps: it stands in for that store's protocol.
        return cast(T, TracedStore(store, kind=kind, system=system, target=target, recorder=recorder))

    return dataclasses.replace(
        stores,
        routes=wrap(stores.routes, "routes", "azure.tables", tables),
        clients=wrap(stores.clients, "clients", "azure.tables", tables),
        audit=wrap(stores.audit, "audit", "azure.tables", tables),
        secrets=wrap(stores.secrets, "secrets", "azure.keyvault", vault),
        changes=wrap(stores.changes, "changes", "azure.tables", tables) if stores.changes is not None else None,
        legacy_ids=(wrap(stores.legacy_ids, "legacy_ids", "azure.tables", tables)
                    if stores.legacy_ids is not None else None),
    )
