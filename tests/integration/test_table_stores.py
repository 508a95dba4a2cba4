"""The Table Storage stores (gateway/stores/tables) on a real Azurite: the store contracts, outages and recovery."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.config import Settings
from gateway.services import Services
from gateway.stores.errors import StoreError, StoreUnavailable
from gateway.stores.factory import open_azure_stores
from gateway.stores.models import AuditRecord
from gateway.stores.tables import TableAuditStore, TableClientStore, TableRouteStore, TableStorage, open_table_storage
from gateway.stores.tables.failures import TableMissing
from gateway.stores.tables.service import TransportOptions
from tests.fixtures.azurite import AzuriteService, unique_prefix
from tests.unit.stores.contracts import (
    T0,
    TENANT_A,
    AuditStoreContract,
    ClientStoreContract,
    RouteStoreContract,
    full_client,
    full_route,
)

pytestmark = pytest.mark.integration


def table_settings(connection_string: str, prefix: str | None = None) -> Settings:
    return Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development", "TABLES_CONNECTION_STRING": connection_string,
                                  "TABLE_NAME_PREFIX": prefix or unique_prefix()})


@pytest.fixture
async def storage(azurite: AzuriteService) -> AsyncIterator[TableStorage]:
    """The three stores on fresh tables of their own (a unique prefix per test)."""
    azurite.start()
    tables = open_table_storage(table_settings(azurite.connection_string))
    await tables.ensure_tables()
    try:
        yield tables
    finally:
        await tables.aclose()


@pytest.fixture
def routes(storage: TableStorage) -> TableRouteStore:
    return storage.routes


@pytest.fixture
def clients(storage: TableStorage) -> TableClientStore:
    return storage.clients


@pytest.fixture
def audit(storage: TableStorage) -> TableAuditStore:
    return storage.audit


class TestTableRouteStore(RouteStoreContract):
    pass


class TestTableClientStore(ClientStoreContract):
    pass


class TestTableAuditStore(AuditStoreContract):
    pass


# --- entity design and ETags ------------------------------------------------------------------------------

async def test_etags_are_the_entities_real_etags(storage: TableStorage) -> None:
    created = await storage.routes.create(full_route())
    raw = await storage.service.get_table_client(storage.names.routes).get_entity(TENANT_A, "")
    assert created.etag == raw.metadata["etag"]
    replaced = await storage.routes.replace(created, if_match=created.etag)
    raw = await storage.service.get_table_client(storage.names.routes).get_entity(TENANT_A, "")
    assert replaced.etag == raw.metadata["etag"] != created.etag


async def test_entities_have_the_documented_shape(storage: TableStorage) -> None:
    await storage.clients.create(full_client())
    raw = await storage.service.get_table_client(storage.names.clients).get_entity("patients-app", "")
    assert raw["DisplayName"] == "Teams Patients app"
    assert '"secretId":"s1a2b3"' in raw["Secrets"] and "value" not in raw["Secrets"]
    await storage.audit.append(AuditRecord("a", "route", TENANT_A, "me", T0, record_id="r1"))
    entity = [e async for e in storage.service.get_table_client(storage.names.audit).list_entities()][0]
    assert entity["PartitionKey"] == f"{99999999 - 20260314:08d}"
    assert entity["RowKey"].endswith("-r1") and len(entity["RowKey"]) == 18 + 3


async def test_table_names_follow_the_prefix_and_ensure_tables_is_idempotent(storage: TableStorage) -> None:
    await storage.ensure_tables()
    await storage.ensure_tables()
    prefix = storage.names.routes.removesuffix("routes")
    names = {t.name async for t in storage.service.list_tables() if t.name.startswith(prefix)}
    assert names == {f"{prefix}routes", f"{prefix}clients", f"{prefix}audit", f"{prefix}authfailures",
                     f"{prefix}replay"}


async def test_a_missing_table_answers_unavailable_is_logged_and_is_never_created_by_a_call(
        azurite: AzuriteService, caplog: pytest.LogCaptureFixture) -> None:
    """Workers' identities cannot create tables (data roles scoped to each table): a call on a missing table is a
    503 for the caller and a log line for the operator, never a create request."""
    azurite.start()
    tables = open_table_storage(table_settings(azurite.connection_string))  # no ensure_tables()
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.stores"):
            with pytest.raises(TableMissing):
                await tables.routes.get(TENANT_A)
            with pytest.raises(StoreUnavailable):
                await tables.clients.create(full_client())
            with pytest.raises(StoreUnavailable):
                await tables.audit.query()
        assert f"table {tables.names.routes} does not exist" in caplog.text
        assert f"table {tables.names.clients} does not exist" in caplog.text
        assert not {t.name async for t in tables.service.list_tables() if t.name in tables.names.all()}
        await tables.ensure_tables()  # the deployment's step (here: Azurite's stand-in)
        await tables.clients.create(full_client())
        assert (await tables.clients.get("patients-app")).display_name == "Teams Patients app"
    finally:
        await tables.aclose()


# --- outages ----------------------------------------------------------------------------------------------

@pytest.fixture
def restart_azurite_afterwards(azurite: AzuriteService) -> Iterator[AzuriteService]:
    try:
        yield azurite
    finally:
        azurite.start()


async def test_store_unavailable_while_azurite_is_stopped_then_recovery_without_restart(
        storage: TableStorage, restart_azurite_afterwards: AzuriteService) -> None:
    azurite = restart_azurite_afterwards
    created = await storage.routes.create(full_route())
    await storage.audit.append(AuditRecord("a", "route", TENANT_A, "me", T0))
    azurite.stop()
    calls = [lambda: storage.routes.get(TENANT_A),
             lambda: storage.routes.create(full_route("11111111-2222-4333-8444-555555555555")),
             lambda: storage.routes.replace(created), lambda: storage.routes.delete(TENANT_A),
             lambda: storage.routes.list(), lambda: storage.clients.get("patients-app"),
             lambda: storage.clients.list(),
             lambda: storage.audit.append(AuditRecord("b", "route", TENANT_A, "me", T0)),
             lambda: storage.audit.query()]
    for call in calls:
        with pytest.raises(StoreUnavailable):
            await call()
    azurite.start()
    # Same store objects, same HTTP session: they work again, and the data survived the restart.
    fetched = await storage.routes.get(TENANT_A)
    assert fetched is not None and fetched.etag == created.etag
    assert len((await storage.audit.query()).items) == 1
    await storage.clients.create(full_client())


async def test_a_worker_started_while_azurite_was_down_recovers_when_it_comes_back(
        azure_settings: Settings, azurite: AzuriteService, restart_azurite_afterwards: AzuriteService) -> None:
    azurite.stop()
    stores = await open_azure_stores(azure_settings)  # opening costs no store call: it succeeds
    try:
        with pytest.raises(StoreUnavailable):
            await stores.routes.get(TENANT_A)
        azurite.start()
        await stores.routes.create(full_route())
        assert (await stores.routes.get(TENANT_A)).display_name == full_route().display_name
    finally:
        await stores.aclose()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (kernel backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def test_a_service_that_never_answers_gives_store_unavailable(silent_port: int) -> None:
    settings = table_settings(f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
                              f"TableEndpoint=http://127.0.0.1:{silent_port}/devstoreaccount1;")
    tables = open_table_storage(settings, options=TransportOptions(retry_total=0, read_timeout=0.5,
                                                                   connection_timeout=0.5))
    try:
        with pytest.raises(StoreUnavailable):
            await tables.routes.get(TENANT_A)
    finally:
        await tables.aclose()


@pytest.fixture
async def failing_service() -> AsyncIterator[dict[str, int | str]]:
    """A loopback HTTP server answering every request with ``state['status']`` and a Table error body."""
    state: dict[str, int | str] = {"status": 503, "code": "ServerBusy"}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                body = json.dumps({"odata.error": {"code": state["code"],
                                                   "message": {"lang": "en-US", "value": "x"}}}).encode()
                writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nx-ms-error-code: %s\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (state["status"], str(state["code"]).encode(),
                                                               len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state["port"] = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def test_server_errors_give_store_unavailable_and_refusals_a_store_error(
        failing_service: dict[str, int | str]) -> None:
    settings = table_settings(f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
                              f"TableEndpoint=http://127.0.0.1:{failing_service['port']}/devstoreaccount1;")
    tables = open_table_storage(settings, options=TransportOptions(retry_total=0))
    try:
        for status, code in ((503, "ServerBusy"), (500, "InternalError"), (429, "TooManyRequests"),
                             (403, "AuthorizationPermissionMismatch")):
            failing_service.update(status=status, code=code)
            with pytest.raises(StoreUnavailable) as caught:
                await tables.routes.get(TENANT_A)
            assert str(status) in str(caught.value)
        failing_service.update(status=400, code="PropertyValueTooLarge")
        with pytest.raises(StoreError) as caught:
            await tables.audit.append(AuditRecord("a", "route", TENANT_A, "me", T0))
        assert not isinstance(caught.value, StoreUnavailable)
        assert "400" in str(caught.value) and "PropertyValueTooLarge" in str(caught.value)
    finally:
        await tables.aclose()


# --- the factory ------------------------------------------------------------------------------------------

async def test_open_azure_stores_builds_all_four_stores(azure_settings: Settings) -> None:
    stores = await open_azure_stores(azure_settings)
    try:
        await stores.routes.create(full_route())
        await stores.clients.create(full_client())
        await stores.audit.append(AuditRecord("a", "route", TENANT_A, "me", T0))
        secret = await stores.secrets.set(f"{azure_settings.key_vault_secret_prefix}-probe", "value-1")
        assert (await stores.routes.get(TENANT_A)).fhir_version == "STU3"
        assert (await stores.clients.get("patients-app")).allowed_tenants == full_client().allowed_tenants
        assert len((await stores.audit.query()).items) == 1
        assert (await stores.secrets.get(secret.name)).value == "value-1"
    finally:
        await stores.aclose()
        await stores.aclose()  # idempotent


async def test_azure_services_fixture_uses_tables_of_its_own(azure_services: Services,
                                                            azure_settings: Settings) -> None:
    await azure_services.routes.create(full_route())
    assert azure_services.settings.table_name_prefix == azure_settings.table_name_prefix
    assert [r.tenant_id for r in (await azure_services.routes.list()).items] == [TENANT_A]
