"""Composition root: the stores, clock and per-worker components, built once per worker.

``current_services()`` builds the Azure-backed set from the environment on
first use (Table Storage, Key Vault) and keeps it for the worker's life, as the
Functions guidance asks for expensive clients. Tests build their own with
``memory_services(settings)`` or ``build_services(settings)``.

Subsystems keep their own per-worker objects (HTTP session, key ring, caches,
rate limiter) through :meth:`Services.component`, so this module need not know
them: ``services.component("proxy.session", make_session)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from gateway.clock import Clock, SystemClock
from gateway.config import Settings, current_settings
from gateway.lifecycle import close_resource
from gateway.stores.protocols import AuditStore, ClientStore, FailureCounterStore, RouteStore, SecretStore
from gateway.stores.replay import ReplayStore

T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    routes: RouteStore
    clients: ClientStore
    audit: AuditStore
    secrets: SecretStore
    clock: Clock = field(default_factory=SystemClock)
    failure_counters: FailureCounterStore | None = None  # shared across instances; None: per-worker limits only
    # Provider assertion keys (gateway.stores.provider_keys); None: Key Vault keys, opened on first use.
    provider_keys: Any = None
    replay: ReplayStore | None = None  # client assertion ids, shared across instances; None: private_key_jwt refused
    _components: dict[str, Any] = field(default_factory=dict)
    _closers: list[Any] = field(default_factory=list)

    def component(self, key: str, factory: Callable[[Services], T]) -> T:
        """The per-worker object registered under ``key``, built by ``factory`` on first use."""
        try:
            return cast(T, self._components[key])  # stored by ``factory`` under this key
        except KeyError:
            value = self._components[key] = factory(self)
            return value

    def forget_client(self, client_id: str, secret_ids: Iterable[str] = ()) -> None:
        """This worker forgets what it cached of a client: its record, its fetched keys (JWKS) and the
        verifiers of ``secret_ids``. Other workers follow within ``CLIENT_CACHE_SECONDS``."""
        from gateway.directory import client_directory
        from gateway.oauth.assertion_auth import assertion_authenticator
        from gateway.oauth.authentication import client_authenticator

        client_directory(self).invalidate(client_id)
        assertion_authenticator(self).forget(client_id)
        for secret_id in secret_ids:
            client_authenticator(self).invalidate(client_id, secret_id)

    def forget_route(self, tenant_id: str) -> None:
        """This worker forgets its cached route of a tenant; others follow within ``ROUTE_CACHE_SECONDS``."""
        from gateway.directory import route_directory

        route_directory(self).invalidate(tenant_id)

    def add_closer(self, resource: Any) -> None:
        """Close ``resource`` (``aclose()`` or ``close()``) when the services are closed."""
        self._closers.append(resource)

    async def aclose(self) -> None:
        for resource in [*self._components.values(), *reversed(self._closers)]:
            await close_resource(resource)
        self._components.clear()
        self._closers.clear()


def memory_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Services on the in-memory store twins (unit tests)."""
    from gateway.stores.memory import (
        MemoryAuditStore,
        MemoryClientStore,
        MemoryFailureCounterStore,
        MemoryRouteStore,
        MemorySecretStore,
    )
    from gateway.stores.memory_provider_keys import MemoryProviderKeyStore
    from gateway.stores.replay import MemoryReplayStore

    clock = clock or SystemClock()
    return Services(settings=settings, routes=MemoryRouteStore(clock), clients=MemoryClientStore(clock),
                    audit=MemoryAuditStore(), secrets=MemorySecretStore(clock), clock=clock,
                    failure_counters=MemoryFailureCounterStore(), replay=MemoryReplayStore(clock),
                    provider_keys=MemoryProviderKeyStore(clock))


async def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Services on Table Storage and Key Vault, as configured by ``settings``."""
    from gateway import telemetry
    from gateway.stores.factory import open_azure_stores

    stores = telemetry.traced_stores(await open_azure_stores(settings), settings)
    services = Services(settings=settings, routes=stores.routes, clients=stores.clients, audit=stores.audit,
                        secrets=stores.secrets, clock=clock or SystemClock(), failure_counters=stores.failure_counters,
                        replay=stores.replay)
    services.add_closer(stores)
    return services


_worker: dict[int, Services] = {}
_lock: asyncio.Lock | None = None


async def current_services() -> Services:
    """This worker's services for the running event loop, built on first use."""
    global _lock
    loop_id = id(asyncio.get_running_loop())
    found = _worker.get(loop_id)
    if found is not None:
        return found
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        found = _worker.get(loop_id)
        if found is None:
            found = _worker[loop_id] = await build_services(current_settings())
        return found
