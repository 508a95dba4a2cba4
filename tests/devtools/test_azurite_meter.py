"""The counting proxy in front of Azurite: transparent to the Tables SDK, one count per transaction, entities
read as the service returns them, only the tables of its prefix."""

from __future__ import annotations

import pytest
from azure.data.tables.aio import TableServiceClient

from devtools.azurite_meter import TableMeter, read_counts

pytestmark = pytest.mark.integration


async def test_reads_writes_queries_and_batches_are_counted(azurite):
    upstream = azurite.process.table_endpoint.rsplit("/", 1)[0]
    async with TableMeter(upstream, "metered") as meter:
        async with TableServiceClient.from_connection_string(meter.connection_string) as service:
            table = service.get_table_client("meteredthings")
            await table.create_table()
            other = service.get_table_client("notcounted")
            await other.create_table()
            for n in range(3):
                await table.create_entity({"PartitionKey": "p", "RowKey": str(n), "N": n})
            await other.create_entity({"PartitionKey": "p", "RowKey": "0"})
            assert (await table.get_entity("p", "1"))["N"] == 1
            assert len([e async for e in table.query_entities("PartitionKey eq 'p'")]) == 3
            await table.submit_transaction([("delete", {"PartitionKey": "p", "RowKey": str(n)}) for n in range(2)])
            await table.delete_table()
            await other.delete_table()
        counts = meter.reset()
        assert counts == {"things.insert": 3, "things.get": 1, "things.query": 1, "things.batch": 1,
                          "things.batch_operations": 2, "transactions": 6, "entities_read": 4}
        assert meter.snapshot() == {}


def test_counts_are_read_and_reset_over_http_from_another_process(azurite):
    meter = TableMeter(azurite.process.table_endpoint.rsplit("/", 1)[0], "metered").start_in_thread()
    try:
        meter.counts["things.get"] = 2
        url = f"http://127.0.0.1:{meter.port}"
        assert read_counts(url) == {"things.get": 2}
        assert read_counts(url, reset=True) == {"things.get": 2}
        assert read_counts(url) == {}
    finally:
        meter.stop_thread()
