"""The per-worker TableServiceClient from settings (gateway/stores/tables/service.py). No request is sent here."""

from __future__ import annotations

import pytest
from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

from gateway.config import SettingsError
from gateway.stores.tables.service import FAIL_FAST, open_table_storage, table_service_client
from tests.fixtures.common import make_settings

AZURITE = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
           "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;")
ENDPOINT = "https://gwdata.table.core.windows.net"


async def test_a_connection_string_wins_and_needs_no_credential() -> None:
    service, credential = table_service_client(make_settings(TABLES_CONNECTION_STRING=AZURITE,
                                                             TABLES_ENDPOINT=ENDPOINT))
    async with service:
        assert credential is None
        assert service.url.startswith("http://127.0.0.1:10002/devstoreaccount1")


async def test_an_endpoint_uses_the_user_assigned_managed_identity() -> None:
    service, credential = table_service_client(make_settings(
        TABLES_ENDPOINT=ENDPOINT, AZURE_CLIENT_ID="3f2504e0-4f89-11d3-9a0c-0305e82c3301"))
    async with service, credential:
        assert isinstance(credential, ManagedIdentityCredential)
        assert service.url.startswith(ENDPOINT)


async def test_an_endpoint_without_client_id_uses_the_default_credential_chain() -> None:
    storage = open_table_storage(make_settings(TABLES_ENDPOINT=ENDPOINT, TABLE_NAME_PREFIX="abc"))
    try:
        assert isinstance(storage._credential, DefaultAzureCredential)
        assert storage.routes.table_name == "abcroutes"
    finally:
        await storage.aclose()


def test_no_table_setting_is_a_settings_error_naming_both() -> None:
    with pytest.raises(SettingsError, match="TABLES_CONNECTION_STRING or TABLES_ENDPOINT"):
        table_service_client(make_settings())


def test_the_transport_fails_fast() -> None:
    assert FAIL_FAST.retry_total <= 2 and FAIL_FAST.connection_timeout <= 3 and FAIL_FAST.read_timeout <= 10
