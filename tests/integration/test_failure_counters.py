"""The Table Storage failure counters (gateway/stores/tables/counters.py) on a real Azurite: the contract,
with two store instances on separate service clients (as two hosts open them), and an outage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from devtools.azurite import create_gateway_tables
from gateway.stores.errors import StoreUnavailable
from gateway.stores.tables import TableStorage, open_table_storage
from gateway.stores.tables.counters import TableFailureCounterStore
from tests.fixtures.azurite import AzuriteService, unique_prefix
from tests.integration.test_table_stores import table_settings
from tests.unit.stores.contracts import T0
from tests.unit.stores.counter_contracts import ADDRESS, CLIENT, WINDOW, FailureCounterStoreContract

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


async def _open(azurite: AzuriteService, prefix: str) -> TableStorage:
    azurite.start()
    create_gateway_tables(azurite.connection_string, prefix)  # as a deployment does (idempotent)
    return open_table_storage(table_settings(azurite.connection_string, prefix))


@pytest.fixture
async def storage(azurite: AzuriteService, prefix: str) -> AsyncIterator[TableStorage]:
    tables = await _open(azurite, prefix)
    try:
        yield tables
    finally:
        await tables.aclose()


@pytest.fixture
async def peer_storage(azurite: AzuriteService, prefix: str) -> AsyncIterator[TableStorage]:
    tables = await _open(azurite, prefix)
    try:
        yield tables
    finally:
        await tables.aclose()


@pytest.fixture
def counters(storage: TableStorage) -> TableFailureCounterStore:
    return TableFailureCounterStore(storage.service.get_table_client(storage.names.failures))


@pytest.fixture
def peer(peer_storage: TableStorage) -> TableFailureCounterStore:
    return TableFailureCounterStore(peer_storage.service.get_table_client(peer_storage.names.failures))


class TestTableFailureCounterStore(FailureCounterStoreContract):
    pass


def fail(store, client=CLIENT, at=T0):
    return store.record_failure(ADDRESS, client, now=at, window_seconds=WINDOW, address_limit=50, client_limit=10)


async def test_the_counter_table_stores_only_hashed_keys_and_numbers_one_row_per_address(counters, storage):
    await fail(counters)
    await fail(counters, client=None)
    table = storage.service.get_table_client(storage.names.failures)
    entities = [entity async for entity in table.list_entities()]
    assert len(entities) == 1
    assert set(entities[0]) == {"PartitionKey", "RowKey", "Failures", f"c{CLIENT}"}
    assert entities[0]["RowKey"] == ADDRESS and entities[0]["PartitionKey"].startswith("t")
    assert (entities[0]["Failures"], entities[0][f"c{CLIENT}"]) == (2, 1)


async def test_a_failure_costs_two_transactions_and_past_windows_are_purged_in_batches(azurite, prefix):
    from devtools.azurite_meter import TableMeter
    from tests.unit.stores.contracts import T0 as start

    async with TableMeter(azurite.process.table_endpoint.rsplit("/", 1)[0], prefix) as meter:
        tables = open_table_storage(table_settings(meter.connection_string, prefix))
        try:
            await tables.ensure_tables()
            meter.reset()
            store = TableFailureCounterStore(tables.service.get_table_client(tables.names.failures))
            for n in range(300):
                await store.record_failure(f"a-{n:040x}", None, now=start, window_seconds=WINDOW,
                                           address_limit=50, client_limit=10)
            assert meter.reset() == {"authfailures.get": 300, "authfailures.insert": 300, "transactions": 600,
                                     "entities_read": 0}
            await fail(store)
            assert meter.reset() == {"authfailures.get": 1, "authfailures.insert": 1, "transactions": 2,
                                     "entities_read": 0}
            await fail(store)
            assert meter.reset() == {"authfailures.get": 1, "authfailures.replace": 1, "transactions": 2,
                                     "entities_read": 1}
            assert await store.purge_expired(now=start + timedelta(seconds=3 * WINDOW),
                                             window_seconds=WINDOW) == 301
            counts = meter.reset()
            assert counts["authfailures.query"] == 1 and counts["authfailures.batch_operations"] == 301
            assert counts["authfailures.batch"] <= 16 * 2 + 2  # per shard, at most 100 rows each
        finally:
            await tables.aclose()


async def test_an_unreachable_table_service_is_store_unavailable(azurite, prefix):
    tables = await _open(azurite, prefix)
    azurite.stop()
    try:
        store = TableFailureCounterStore(tables.service.get_table_client(tables.names.failures))
        with pytest.raises(StoreUnavailable):
            await fail(store)
    finally:
        azurite.start()
        await tables.aclose()
