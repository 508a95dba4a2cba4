"""The proxy enforces the token's SMART scopes (SMART App Launch 2.x "Scopes for requesting FHIR resources") before
anything reaches the provider, over real sockets to a recording provider stand-in: reads, searches (query and
``POST _search`` body), ``_include``/``_revinclude``, compartments, every batch entry and writes."""

from __future__ import annotations

import json

import pytest

from gateway.scopes import SmartScopes
from gateway.stores.models import Client, Route
from tests.fixtures.provider import Reply
from tests.support.constants import TENANT_A
from tests.support.fhir import request
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration

CLIENT = "backend-app"
FORM = [("Content-Type", "application/x-www-form-urlencoded")]
BUNDLE = [("Content-Type", "application/fhir+json")]


async def setup(services, provider, *, allowed: str, scope: str | None = None, allow_writes: bool = False) -> str:
    """A client allowed ``allowed``, a route, and a token granted ``scope`` (None: the tenant alone)."""
    await services.clients.create(Client(client_id=CLIENT, display_name="Backend", allowed_tenants=(TENANT_A,),
                                         allowed_scopes=allowed))
    await services.routes.create(Route(tenant_id=TENANT_A, fhir_base_url=provider.base("/r4"), fhir_version="R4",
                                       allow_writes=allow_writes))
    claim = TENANT_A if scope is None else f"{TENANT_A} {SmartScopes.parse(scope)}"  # as the grant writes it
    return (await services.token_issuer.issue(client_id=CLIENT, tenant_id=TENANT_A, scope=claim)).access_token


def refused(response) -> str:
    assert response.status == 403
    outcome = json.loads(response.body)
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "forbidden"
    return outcome["issue"][0]["diagnostics"]


async def test_reads_within_the_scopes_pass_and_others_never_reach_the_provider(services, provider):
    token = await setup(services, provider, allowed="system/*.rs", scope="system/Patient.rs")
    assert (await proxy(request("GET", "/Patient/1", token), services)).status == 200
    assert (await proxy(request("GET", "/Patient?name=chau", token), services)).status == 200
    assert "Observation" in refused(await proxy(request("GET", "/Observation?patient=1", token), services))
    assert "Observation" in refused(await proxy(request("GET", "/Observation/5", token), services))
    assert [r.path for r in provider.requests] == ["/r4/Patient/1", "/r4/Patient"]


async def test_a_tenant_only_token_gets_the_clients_allowed_scopes(services, provider):
    token = await setup(services, provider, allowed="system/Patient.rs")
    assert (await proxy(request("GET", "/Patient/1", token), services)).status == 200
    refused(await proxy(request("GET", "/Encounter/1", token), services))
    assert len(provider.requests) == 1


async def test_narrowing_the_clients_allowed_scopes_narrows_tokens_already_issued(services, provider):
    from dataclasses import replace


    token = await setup(services, provider, allowed="system/*.rs", scope="system/Patient.rs system/Encounter.rs")
    assert (await proxy(request("GET", "/Encounter/1", token), services)).status == 200
    client = await services.clients.get(CLIENT)
    await services.clients.replace(replace(client, allowed_scopes="system/Patient.rs"))
    services.client_directory.invalidate(CLIENT)
    refused(await proxy(request("GET", "/Encounter/1", token), services))


async def test_post_search_body_and_includes_cannot_widen_access(services, provider):
    token = await setup(services, provider, allowed="system/*.rs", scope="system/Patient.rs")
    ok = await proxy(request("POST", "/Patient/_search", token, body=b"name=chau", headers=FORM), services)
    assert ok.status == 200
    for body in (b"name=chau&_revinclude=Observation:subject", b"_include=Patient:general-practitioner",
                 b"%5Finclude=Patient:organization:Organization", b"_has:Observation:patient:code=1234"):
        refused(await proxy(request("POST", "/Patient/_search", token, body=body, headers=FORM), services))
    refused(await proxy(request("GET", "/Patient?_include=Patient:organization:Organization", token), services))
    refused(await proxy(request("GET", "/Patient/1/Observation", token), services))  # compartment search
    assert len(provider.requests) == 1


async def test_every_batch_entry_is_checked(services, provider):
    provider.script = lambda r, s: Reply(body={"resourceType": "Bundle", "type": "batch-response", "entry": []})
    token = await setup(services, provider, allowed="system/*.rs", scope="system/Patient.rs system/Observation.s")

    def batch(*urls: str) -> bytes:
        return json.dumps({"resourceType": "Bundle", "type": "batch",
                           "entry": [{"request": {"method": "GET", "url": url}} for url in urls]}).encode()

    allowed = await proxy(request("POST", "/", token, body=batch("Patient/19", "Observation?patient=19"),
                                  headers=BUNDLE), services)
    assert allowed.status == 200
    diagnostics = refused(await proxy(request("POST", "/", token, body=batch("Patient/19", "Condition?patient=19"),
                                              headers=BUNDLE), services))
    assert "Condition" in diagnostics and "19" not in diagnostics  # types only, never values
    refused(await proxy(request("POST", "/", token, body=batch("Observation/7"), headers=BUNDLE), services))  # s only
    assert len(provider.requests) == 1


async def test_writes_need_both_a_write_route_and_write_scopes(services, provider):
    provider.script = lambda r, s: Reply(status=201, body=b"")
    token = await setup(services, provider, allowed="system/*.cruds", scope="system/Patient.rs system/Observation.c",
                        allow_writes=True)
    created = await proxy(request("POST", "/Observation", token, body=b'{"resourceType":"Observation"}',
                                  headers=BUNDLE), services)
    assert created.status == 201
    refused(await proxy(request("POST", "/Patient", token, body=b'{"resourceType":"Patient"}', headers=BUNDLE),
                        services))
    refused(await proxy(request("DELETE", "/Observation/1", token), services))
    assert [r.method for r in provider.requests] == ["POST"]


async def test_write_scopes_do_not_open_a_read_only_route(services, provider):
    token = await setup(services, provider, allowed="system/*.cruds", scope="system/*.cruds")
    response = await proxy(request("POST", "/Patient", token, body=b'{"resourceType":"Patient"}', headers=BUNDLE),
                           services)
    assert response.status == 403 and provider.requests == []


async def test_us_core_includes_chains_and_lastn_reach_the_provider_with_the_types_they_need(services, provider):
    """Each is refused unless every type it reaches is granted, and forwarded as sent when they are (R4 route)."""
    token = await setup(services, provider, allowed="system/*.rs", scope=(
        "system/Observation.rs system/Patient.rs system/Encounter.rs system/Location.rs "
        "system/MedicationRequest.rs system/Medication.rs"))
    paths = ["/MedicationRequest?patient=1&_include=MedicationRequest:medication",
             "/Encounter?patient=1&_include=Encounter:location", "/Observation?patient=1&_include=Observation:patient",
             "/Observation?patient=1&_include=Observation:encounter", "/Observation?patient.identifier=1234567",
             "/Observation/$lastn?patient=1&category=vital-signs"]
    for path in paths:
        assert (await proxy(request("GET", path, token), services)).status == 200, path
    assert [r.path for r in provider.requests] == [f"/r4{p.partition('?')[0]}" for p in paths]
    narrower = await setup_token(services, "system/Observation.rs")
    refused(await proxy(request("GET", "/Observation?patient=1&_include=Observation:patient", narrower), services))
    refused(await proxy(request("GET", "/Observation?patient.identifier=1234567", narrower), services))
    assert len(provider.requests) == len(paths)


async def test_a_conditional_create_within_the_scopes_is_forwarded_with_its_header(services, provider):
    provider.script = lambda r, s: Reply(status=201, body=b"")
    token = await setup(services, provider, allowed="system/*.cruds", scope="system/Patient.cs", allow_writes=True)
    headers = [*BUNDLE, ("If-None-Exist", "identifier=http://hospital.smarthealthit.org|1234567")]
    created = await proxy(request("POST", "/Patient", token, body=b'{"resourceType":"Patient"}', headers=headers),
                          services)
    assert created.status == 201
    assert [r.method for r in provider.requests] == ["POST"]


async def setup_token(services, scope: str) -> str:
    """Another token of the client ``setup`` registered, granted ``scope``."""
    claim = f"{TENANT_A} {SmartScopes.parse(scope)}"
    return (await services.token_issuer.issue(client_id=CLIENT, tenant_id=TENANT_A, scope=claim)).access_token
