"""The in-memory twins (gateway/stores/memory.py) against the store contracts, and their outage switch."""

from __future__ import annotations

import pytest

from gateway.clock import FakeClock
from gateway.stores.errors import StoreUnavailable
from gateway.stores.memory import (
    MemoryAuditStore,
    MemoryClientStore,
    MemoryFailureCounterStore,
    MemoryRouteStore,
)
from tests.unit.stores.contracts import (
    AuditStoreContract,
    ClientStoreContract,
    RouteStoreContract,
    full_client,
    full_route,
)
from tests.unit.stores.counter_contracts import FailureCounterStoreContract


@pytest.fixture
def routes(clock: FakeClock) -> MemoryRouteStore:
    return MemoryRouteStore(clock)


@pytest.fixture
def clients(clock: FakeClock) -> MemoryClientStore:
    return MemoryClientStore(clock)


@pytest.fixture
def audit() -> MemoryAuditStore:
    return MemoryAuditStore()


class TestMemoryRouteStore(RouteStoreContract):
    pass


class TestMemoryClientStore(ClientStoreContract):
    pass


class TestMemoryAuditStore(AuditStoreContract):
    pass


async def test_a_switched_off_twin_raises_store_unavailable_and_recovers(
        routes: MemoryRouteStore, clients: MemoryClientStore, audit: MemoryAuditStore) -> None:
    await routes.create(full_route())
    for store in (routes, clients, audit):
        store.available = False
    with pytest.raises(StoreUnavailable):
        await routes.get(full_route().tenant_id)
    with pytest.raises(StoreUnavailable):
        await clients.create(full_client())
    with pytest.raises(StoreUnavailable):
        await audit.query()
    for store in (routes, clients, audit):
        store.available = True
    assert await routes.get(full_route().tenant_id) is not None


async def test_replace_stamps_updated_on_from_the_clock(routes: MemoryRouteStore, clock: FakeClock) -> None:
    created = await routes.create(full_route())
    clock.advance(90)
    replaced = await routes.replace(created)
    assert replaced.created_on == created.created_on
    assert (replaced.updated_on - created.updated_on).total_seconds() == 90


@pytest.fixture
def counters() -> MemoryFailureCounterStore:
    return MemoryFailureCounterStore()


@pytest.fixture
def peer(counters: MemoryFailureCounterStore) -> MemoryFailureCounterStore:
    return counters  # one process: the same counters


class TestMemoryFailureCounterStore(FailureCounterStoreContract):
    pass
