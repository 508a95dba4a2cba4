"""The Table Storage replay store on a real Azurite: the replay contract, sharing between instances, what is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from azure.data.tables.aio import TableServiceClient

from devtools.azurite import create_gateway_tables
from gateway.clock import FakeClock
from gateway.stores.errors import StoreUnavailable
from gateway.stores.tables.buckets import partition_key
from gateway.stores.tables.replay import REPLAY_TABLE_SUFFIX, TableReplayStore, row_key
from tests.fixtures.azurite import AzuriteService, unique_prefix
from tests.unit.stores.replay_contracts import CLIENT, ReplayStoreContract

pytestmark = pytest.mark.integration


@pytest.fixture
async def services(azurite: AzuriteService) -> AsyncIterator[list[TableServiceClient]]:
    """Two independent service clients on one Azurite: two gateway instances."""
    azurite.start()
    clients = [TableServiceClient.from_connection_string(azurite.connection_string, retry_total=0)
               for _ in range(2)]
    try:
        yield clients
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
def prefix(azurite: AzuriteService) -> str:
    """A prefix whose tables exist, as a deployment creates them."""
    azurite.start()
    prefix = unique_prefix()
    create_gateway_tables(azurite.connection_string, prefix)
    return prefix


@pytest.fixture
def replay(services, prefix, clock: FakeClock) -> TableReplayStore:
    return TableReplayStore.from_service(services[0], prefix, clock)


class TestTableReplayStore(ReplayStoreContract):
    pass


async def test_the_table_is_named_from_the_prefix_and_a_missing_one_is_unavailable(services, replay, prefix, clock):
    assert replay.table_name == f"{prefix}{REPLAY_TABLE_SUFFIX}"
    assert await replay.use_once(CLIENT, "first", clock.now() + timedelta(seconds=60))
    missing = TableReplayStore.from_service(services[0], unique_prefix(), clock)
    with pytest.raises(StoreUnavailable):  # never created by a worker's call: the deployment creates it
        await missing.use_once(CLIENT, "first", clock.now() + timedelta(seconds=60))


async def test_instances_share_what_was_used(services, prefix, clock):
    first = TableReplayStore.from_service(services[0], prefix, clock)
    second = TableReplayStore.from_service(services[1], prefix, clock)
    await first.ensure_table()
    assert await first.use_once(CLIENT, "shared", clock.now() + timedelta(seconds=60))
    assert await second.use_once(CLIENT, "shared", clock.now() + timedelta(seconds=60)) is False


async def test_only_a_digest_of_the_pair_is_stored_in_the_hours_partition(replay, services, prefix, clock):
    jti = "secret-looking-jti-0123456789"
    clock.advance(-(clock.now().timestamp() % 3600) + 1800)  # mid-hour: one transaction
    await replay.use_once(CLIENT, jti, clock.now() + timedelta(seconds=60))
    table = services[0].get_table_client(f"{prefix}{REPLAY_TABLE_SUFFIX}")
    entities = [e async for e in table.list_entities()]
    bucket = int(clock.now().timestamp() // 3600)
    assert [(e["PartitionKey"], e["RowKey"]) for e in entities] == [
        (partition_key(bucket, row_key(CLIENT, jti)), row_key(CLIENT, jti))]
    assert all(jti not in str(value) and CLIENT not in str(value) for e in entities for value in e.values())


async def test_a_use_costs_one_row_and_an_expired_hour_is_purged_in_batches(azurite, prefix, clock):
    from devtools.azurite_meter import TableMeter

    async with TableMeter(azurite.process.table_endpoint.rsplit("/", 1)[0], prefix) as meter:
        async with TableServiceClient.from_connection_string(meter.connection_string) as service:
            replay = TableReplayStore.from_service(service, prefix, clock)
            await replay.ensure_table()
            clock.advance(-(clock.now().timestamp() % 3600) + 1800)  # mid-hour: no neighbour to read
            for n in range(250):
                assert await replay.use_once(CLIENT, f"jti-{n}", clock.now() + timedelta(seconds=300))
            assert meter.reset() == {"replay.insert": 250, "transactions": 250, "entities_read": 0}
            clock.advance(2 * 3600)
            assert await replay.purge_expired() == 250
            counts = meter.reset()
            assert counts["replay.query"] == 1 and counts["replay.batch_operations"] == 250
            assert counts["replay.batch"] <= 16 + 2  # a batch per shard (16), at most 100 rows each
            assert [e async for e in service.get_table_client(replay.table_name).list_entities()] == []


async def test_an_unreachable_service_raises_store_unavailable(clock):
    from devtools.azurite import free_port

    port = free_port()
    connection = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                  "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
                  f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    service = TableServiceClient.from_connection_string(connection, retry_total=0, connection_timeout=1,
                                                        read_timeout=1)
    try:
        replay = TableReplayStore.from_service(service, unique_prefix(), clock)
        with pytest.raises(StoreUnavailable):
            await replay.use_once(CLIENT, "jti", clock.now() + timedelta(seconds=60))
    finally:
        await service.close()
