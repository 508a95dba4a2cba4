"""The clients table's reserved partitions on a real Azurite: the change log, the legacy client id index, and
the deployment's ensure step that writes the index (counted by ``devtools.azurite_meter``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from devtools.azurite_meter import TableMeter
from gateway.clock import FakeClock
from gateway.oauth.client_ids import mint
from gateway.stores.legacy_ids import id_digest
from gateway.stores.models import Client, Route
from gateway.stores.tables import TableStorage, open_table_storage
from tests.fixtures.azurite import unique_prefix
from tests.integration.test_table_stores import table_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
async def metered(azurite, prefix) -> AsyncIterator[tuple[TableStorage, TableMeter]]:
    azurite.start()
    async with TableMeter(azurite.process.table_endpoint.rsplit("/", 1)[0], prefix) as meter:
        tables = open_table_storage(table_settings(meter.connection_string, prefix), FakeClock())
        await tables.ensure_tables()
        meter.reset()
        try:
            yield tables, meter
        finally:
            await tables.aclose()


async def test_every_write_of_a_route_or_client_is_recorded_first(metered):
    tables, meter = metered
    start = tables.changes._clock.now()  # noqa: SLF001 - the stores' clock
    await tables.routes.create(Route(tenant_id=str(uuid.uuid4()), fhir_base_url="https://p/r4", fhir_version="R4"))
    client = await tables.clients.create(Client(client_id="legacy-one", display_name="x"))
    await tables.clients.replace(client)
    await tables.clients.delete("legacy-one")
    changes = await tables.changes.since(start)  # one instant (a fake clock): in no particular order
    assert sorted(c.kind for c in changes) == ["client", "client", "client", "route"]
    assert {c.key for c in changes if c.kind == "client"} == {"legacy-one"}
    assert await tables.changes.since(start + timedelta(seconds=1)) == []
    counts = meter.reset()
    assert counts["clients.insert"] == 1 + 4  # the client, and four change records in the clients table
    assert await tables.changes.purge_before(start + timedelta(seconds=1)) == 4


async def test_the_reserved_partitions_are_no_clients(metered):
    tables, _ = metered
    await tables.changes.record("client", "x")
    await tables.legacy_ids.write(["a", "b"])
    await tables.clients.create(Client(client_id="zzz-last-client", display_name="x"))
    assert [c.client_id for c in (await tables.clients.list(page_size=1000)).items] == ["zzz-last-client"]
    assert await tables.clients.get("~changes") is None
    with pytest.raises(ValueError):
        await tables.clients.create(Client(client_id="~legacy-client-ids", display_name="x"))


async def test_fifty_thousand_legacy_ids_are_one_entity_read_in_one_call(metered):
    tables, meter = metered
    assert await tables.legacy_ids.load() is None
    ids = [str(uuid.UUID(int=n)) for n in range(50_000)]
    assert await tables.legacy_ids.write(ids) == 50_000
    meter.reset()
    loaded = await tables.legacy_ids.load()
    assert meter.reset() == {"clients.query": 1, "transactions": 1, "entities_read": 1}
    assert len(loaded) == 50_000 and id_digest(ids[123]) in loaded and id_digest("not-a-client") not in loaded
    assert await tables.legacy_ids.write(["only-one"]) == 1  # written again, smaller: no stale rows left
    assert await tables.legacy_ids.load() == frozenset({id_digest("only-one")})


async def test_ensure_indexes_the_untagged_client_ids_only(azure_services):

    for client_id in ("legacy-a", str(uuid.uuid4()), mint(b"k" * 32)):
        await azure_services.clients.create(Client(client_id=client_id, display_name="x"))
    done = await azure_services.admin_api.deployment.ensure(rebuild_index=True)
    assert done == ["legacy client id index (2 ids)"]
    loaded = await azure_services.legacy_ids.load()
    assert id_digest("legacy-a") in loaded and len(loaded) == 2
    assert await azure_services.admin_api.deployment.ensure() == []
