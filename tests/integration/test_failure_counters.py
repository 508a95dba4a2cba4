"""The Table Storage failure counters (gateway/stores/tables/counters.py) on a real Azurite: the contract,
with two store instances on separate service clients (as two hosts open them), and an outage."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.stores.errors import StoreUnavailable
from gateway.stores.tables import TableStorage, open_table_storage
from gateway.stores.tables.counters import TableFailureCounterStore
from tests.fixtures.azurite import AzuriteService, unique_prefix
from tests.integration.test_table_stores import table_settings
from tests.unit.stores.contracts import T0
from tests.unit.stores.counter_contracts import KEY, WINDOW, FailureCounterStoreContract

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


async def _open(azurite: AzuriteService, prefix: str) -> TableStorage:
    azurite.start()
    return open_table_storage(table_settings(azurite.connection_string, prefix))


@pytest.fixture
async def storage(azurite: AzuriteService, prefix: str) -> AsyncIterator[TableStorage]:
    tables = await _open(azurite, prefix)  # the table is created by the first failure (self-healing)
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


async def test_the_counter_table_stores_only_hashed_keys_and_numbers(counters, storage):
    await counters.record_failure(KEY, now=T0, limit=3, window_seconds=WINDOW)
    table = storage.service.get_table_client(storage.names.failures)
    entities = [entity async for entity in table.list_entities()]
    assert len(entities) == 1
    assert set(entities[0]) == {"PartitionKey", "RowKey", "Failures", "WindowStart"}
    assert entities[0]["PartitionKey"] == KEY


async def test_an_unreachable_table_service_is_store_unavailable(azurite, prefix):
    tables = await _open(azurite, prefix)
    azurite.stop()
    try:
        store = TableFailureCounterStore(tables.service.get_table_client(tables.names.failures))
        with pytest.raises(StoreUnavailable):
            await store.record_failure(KEY, now=T0, limit=3, window_seconds=WINDOW)
    finally:
        azurite.start()
        await tables.aclose()
