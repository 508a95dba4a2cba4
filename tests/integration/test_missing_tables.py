"""A worker whose tables the deployment has not created (or which were deleted): its identity could not create
them (data roles scoped to each table), so it never tries. Opening the stores costs no Table call, and a
request that needs a missing table answers 503 in its function's format and logs which table is missing."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from azure.data.tables import TableServiceClient

from gateway.credentials import new_secret
from gateway.services import build_services
from tests.fixtures.azurite import unique_prefix
from tests.fixtures.provider import connect
from tests.support.constants import CLIENT_ID, TENANT_A
from tests.support.fhir import request
from tests.support.oauth import post_form, token_request
from tests.support.surfaces import proxy, respond
from tests.unit.oauth.helpers import add_client, add_route

pytestmark = pytest.mark.integration


def gateway_tables(connection_string: str, prefix: str) -> set[str]:
    with TableServiceClient.from_connection_string(connection_string) as service:
        return {t.name for t in service.list_tables() if t.name.startswith(prefix)}


def delete_table(connection_string: str, name: str) -> None:
    with TableServiceClient.from_connection_string(connection_string) as service:
        service.delete_table(name)


async def test_a_token_request_needing_a_missing_table_is_a_logged_503_and_no_table_is_created(
        azure_services, azure_settings, azurite, caplog):
    await add_route(azure_services, TENANT_A)
    secret = await add_client(azure_services, tenants=(TENANT_A,))
    prefix = azure_settings.table_name_prefix
    delete_table(azurite.connection_string, f"{prefix}clients")
    worker = await build_services(azure_settings)  # a cold worker, as current_services() builds it
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.stores"):
            response = await respond(token_request(post_form(CLIENT_ID, secret, scope=TENANT_A)), worker)
        assert response.status == 503
        assert json.loads(response.body)["error"] == "temporarily_unavailable"
        assert f"table {prefix}clients does not exist" in caplog.text
        assert secret not in caplog.text
        assert f"{prefix}clients" not in gateway_tables(azurite.connection_string, prefix)
    finally:
        await worker.aclose()


async def test_a_proxied_read_needing_a_missing_table_is_a_logged_503_operation_outcome(
        azure_services, azure_settings, azurite, provider, caplog):
    token = await connect(azure_services, TENANT_A, provider.base("/stu3"))
    prefix = azure_settings.table_name_prefix
    delete_table(azurite.connection_string, f"{prefix}routes")
    worker = await build_services(azure_settings)
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.stores"):
            response = await proxy(request("GET", "/Patient/1", token), worker)
        assert response.status == 503
        body = json.loads(response.body)
        assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "transient"
        assert f"table {prefix}routes does not exist" in caplog.text
        assert f"{prefix}routes" not in gateway_tables(azurite.connection_string, prefix)
        assert provider.requests == []
    finally:
        await worker.aclose()


async def test_opening_a_workers_stores_creates_no_table(azure_services, azure_settings, azurite):
    prefix = unique_prefix()  # tables nobody created
    worker = await build_services(dataclasses.replace(azure_settings, table_name_prefix=prefix))
    try:
        await worker.key_ring.jwks()  # the worker is up (its signing keys read from Key Vault)
        form = post_form(CLIENT_ID, new_secret()[1], scope=TENANT_A)
        assert (await respond(token_request(form), worker)).status == 503
    finally:
        await worker.aclose()
    assert gateway_tables(azurite.connection_string, prefix) == set()
