"""Telemetry end to end: the local Functions host exports with the real Azure Monitor distro to a local
stand-in of the ingestion endpoint; a token request, a proxied read and an admin call arrive as requests
and dependencies of one operation each, with the contract's dimensions and without PHI or credentials."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.services import Services
from gateway.stores.models import Route
from gateway.telemetry.stores import table_target, vault_target
from tests.fixtures.ingestion import IngestionStandIn, operation_id, properties
from tests.fixtures.leaks import register_sensitive
from tests.support.constants import CLIENT_ID, CLIENT_SPAN_ID, CLIENT_TRACE_ID, TENANT
from tests.unit.oauth.helpers import add_client

pytestmark = pytest.mark.e2e

KEY = "e2e-telemetry-function-key-51c9"
PATIENT_ID = "pat-8841927"
PATIENT_NAME = "Chalmers"
BIRTH_DATE = "1974-12-25"


def base_data(envelope: dict) -> dict:
    return envelope["data"]["baseData"]


def named(items: list[dict], name: str) -> list[dict]:
    return [e for e in items if base_data(e)["name"] == name]


async def test_requests_dependencies_and_metrics_arrive_joined_and_without_phi(
        azure_settings, azure_services: Services, azurite, keyvault, funchost, provider,
        ingestion: IngestionStandIn):
    secret = await add_client(azure_services)
    await azure_services.routes.create(Route(tenant_id=TENANT, fhir_base_url=provider.base("/stu3"),
                                             fhir_version="STU3", display_name="St. Mary's"))
    register_sensitive(secret, KEY)
    host = funchost({"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": "http://localhost:7071",
                     **azurite.settings(), **keyvault.settings(), "LOCAL_FUNCTION_KEY": KEY,
                     "TABLE_NAME_PREFIX": azure_settings.table_name_prefix,
                     "KEY_VAULT_SECRET_PREFIX": azure_settings.key_vault_secret_prefix, **ingestion.settings()})

    async with httpx.AsyncClient(base_url=host.base_url, timeout=30) as http:
        issued = await http.post("/oauth2/token", data={"grant_type": "client_credentials", "scope": TENANT},
                                 auth=(CLIENT_ID, secret))
        assert issued.status_code == 200, host.output()[-4000:]
        access_token = issued.json()["access_token"]
        register_sensitive(access_token)
        refused = await http.post("/oauth2/token", data={"grant_type": "client_credentials", "scope": TENANT},
                                  auth=(CLIENT_ID, secret[:-4] + "AAAA"))
        assert refused.status_code == 401

        read = await http.get(f"/fhir/Patient/{PATIENT_ID}", params={"name": PATIENT_NAME, "birthdate": BIRTH_DATE},
                              headers={"Authorization": f"Bearer {access_token}",
                                       "traceparent": f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"})
        assert read.status_code == 200
        admin = await http.get(f"/manage/routes/{TENANT}", headers={"x-functions-key": KEY})
        assert admin.status_code == 200, admin.text

    def arrived(stand_in: IngestionStandIn) -> bool:
        names = {base_data(e)["name"] for e in stand_in.requests()}
        metrics = stand_in.metrics()
        return {"POST /oauth2/token", "GET /fhir/Patient/{id}", "GET /manage/routes/{id}"} <= names and all(
            name in metrics for name in ("gateway.token.requests", "gateway.proxy.requests",
                                         "gateway.provider.duration", "gateway.cache.requests"))

    ingestion.wait_for(arrived)
    requests, dependencies = ingestion.requests(), ingestion.dependencies()

    # -- the proxied read: one operation, joined to the client's trace, the provider call and its traceparent
    (proxied,) = named(requests, "GET /fhir/Patient/{id}")
    # The host's request activity is the client's child and the gateway's parent (as the .NET host does):
    # same trace, a span id of the host's own.
    host_span = proxied["tags"]["ai.operation.parentId"]
    assert operation_id(proxied) == CLIENT_TRACE_ID
    assert re.fullmatch("[0-9a-f]{16}", host_span) and host_span not in (CLIENT_SPAN_ID, base_data(proxied)["id"])
    assert base_data(proxied)["responseCode"] == "200"
    assert base_data(proxied)["url"] == f"{host.base_url}/fhir/Patient/{{id}}"
    assert {k: v for k, v in properties(proxied).items() if k in (
        "tenant.id", "client.id", "fhir.resource_type", "fhir.interaction", "gateway.outcome")} == {
        "tenant.id": TENANT, "client.id": CLIENT_ID, "fhir.resource_type": "Patient", "fhir.interaction": "read",
        "gateway.outcome": "forwarded"}
    provider_host = f"127.0.0.1:{provider.origin.rsplit(':', 1)[1]}"
    (call,) = [d for d in dependencies if base_data(d).get("target") == provider_host]
    assert operation_id(call) == CLIENT_TRACE_ID
    assert call["tags"]["ai.operation.parentId"] == base_data(proxied)["id"]
    assert (base_data(call)["type"], base_data(call)["resultCode"], base_data(call)["name"]) == (
        "HTTP", "200", "GET /stu3/Patient/{id}")
    sent = provider.requests[-1].header("traceparent")
    assert sent == f"00-{CLIENT_TRACE_ID}-{base_data(call)['id']}-01"  # the gateway's span, not the client's
    assert CLIENT_SPAN_ID not in "".join(v for _, v in provider.requests[-1].headers)

    # -- the token request: its own operation, with the store calls it made as dependencies
    (token,) = [r for r in named(requests, "POST /oauth2/token") if base_data(r)["responseCode"] == "200"]
    assert properties(token)["gateway.outcome"] == "issued"
    assert (properties(token)["client.id"], properties(token)["tenant.id"]) == (CLIENT_ID, TENANT)
    store_calls = [d for d in dependencies if operation_id(d) == operation_id(token)]
    assert {(base_data(d)["name"], base_data(d)["target"]) for d in store_calls} >= {
        ("clients.get", table_target(azure_settings)), ("secrets.get", vault_target(azure_settings))}
    (failed,) = [r for r in named(requests, "POST /oauth2/token") if base_data(r)["responseCode"] == "401"]
    assert properties(failed)["gateway.outcome"].startswith("invalid_client")

    (admin_request,) = named(requests, "GET /manage/routes/{id}")
    assert base_data(admin_request)["responseCode"] == "200"

    # -- the proxy's access-log line is exported too, joined to the request's operation
    logs = ingestion.wait_for(lambda stand_in: [m for m in stand_in.items("MessageData")
                                                if operation_id(m) == CLIENT_TRACE_ID])
    assert any("outcome=forwarded" in base_data(m)["message"] for m in logs)

    # -- metrics with the contract's dimensions
    metrics = ingestion.metrics()
    outcomes = {p["properties"].get("outcome") for p in metrics["gateway.token.requests"]}
    assert {"issued", "invalid_client"} <= outcomes
    assert {(p["properties"]["tenant"], p["properties"]["outcome"]) for p in metrics["gateway.proxy.requests"]} == {
        (TENANT, "forwarded")}
    assert {p["properties"]["tenant"] for p in metrics["gateway.provider.duration"]} == {TENANT}
    assert {p["properties"]["cache"] for p in metrics["gateway.cache.requests"]} >= {"clients", "routes"}

    # -- no PHI, no credential anywhere in what was exported
    exported = ingestion.text()
    for forbidden in (PATIENT_ID, PATIENT_NAME, BIRTH_DATE, "birthdate=", secret, access_token, KEY,
                      "Bearer", "St. Mary"):
        assert forbidden not in exported, forbidden
