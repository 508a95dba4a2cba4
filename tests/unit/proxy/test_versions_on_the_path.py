"""FHIR versions on the proxy's path: the base the client called names its version; a provider of the same version
is a passthrough, a DSTU2 or STU3 client on an R4 provider is bridged (converted both ways, read-only), any other
pair is refused in the client's version naming both; links stay on the client's base (in-memory stores and a
MockTransport provider)."""

from __future__ import annotations

import json

import pytest

from gateway.outbound.transport import MockTransport, UpstreamRequest, UpstreamResponse
from gateway.stores.models import Client, Route
from tests.support.constants import GW, PROVIDER, TENANT
from tests.support.fhir import request
from tests.support.surfaces import proxy

CLIENT = "versions-client"
R4_ALLERGY = {
    "resourceType": "AllergyIntolerance", "id": "a1",
    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                   "code": "active"}]},
    "verificationStatus": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed"}]},
    "code": {"text": "sulfonamide antibacterial"}, "patient": {"reference": f"{PROVIDER}/Patient/p1"},
    "recordedDate": "2018-01-01"}
R4_MEDICATION_REQUEST = {
    "resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
    "medicationCodeableConcept": {"text": "Lisinopril 10 MG"}, "subject": {"reference": "Patient/p1"},
    "authoredOn": "2020-01-01", "requester": {"reference": "Practitioner/d1", "display": "Dr. Adams"}}


def searchset(*resources: dict, next_url: str | None = None) -> dict:
    links = [{"relation": "self", "url": f"{PROVIDER}/x"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources), "link": links,
            "entry": [{"fullUrl": f"{PROVIDER}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]}


def r4_provider(sent: UpstreamRequest) -> UpstreamResponse:
    """An R4 server: strict about what it is asked (an unknown type is its own 404 OperationOutcome)."""
    path = sent.url[len(PROVIDER):].split("?")[0].strip("/")
    if path.startswith("AllergyIntolerance"):
        body: dict = R4_ALLERGY if "/" in path else searchset(R4_ALLERGY)
    elif path.startswith("MedicationRequest"):
        body = R4_MEDICATION_REQUEST if "/" in path else searchset(R4_MEDICATION_REQUEST,
                                                                      next_url=f"{PROVIDER}/MedicationRequest?"
                                                                               "patient=p1&_offset=1")
    elif path == "Patient/gone":
        return UpstreamResponse(404, [("Content-Type", "application/fhir+json")], json.dumps({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "deleted", "diagnostics": "gone"}]}).encode(), "Not Found")
    elif path == "Patient/html":
        return UpstreamResponse(500, [("Content-Type", "text/html")], b"<html>broken</html>", "Error")
    else:
        body = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Black", "given": ["Ruth"]}]}
    return UpstreamResponse(200, [("Content-Type", "application/fhir+json;charset=utf-8")], json.dumps(body).encode(),
                            "OK")


async def connect(services, provider_version: str, *, scopes: str = "system/*.rs", allow_writes: bool = False,
                  handler=r4_provider) -> tuple[MockTransport, str]:
    await services.clients.create(Client(client_id=CLIENT, display_name="Versions", allowed_tenants=(TENANT,),
                                         allowed_scopes=scopes))
    await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=PROVIDER, fhir_version=provider_version,
                                       allow_writes=allow_writes))
    transport = services.use_transport(MockTransport(handler))
    token = (await services.token_issuer.issue(client_id=CLIENT, tenant_id=TENANT)).access_token
    return transport, token


def outcome_of(response) -> dict:
    document = json.loads(response.body)
    assert document["resourceType"] == "OperationOutcome"
    return document["issue"][0]


# -- pairs -----------------------------------------------------------------------------------------------------

async def test_same_version_is_a_passthrough_of_the_providers_bytes(services):
    transport, token = await connect(services, "R4")
    response = await proxy(request("GET", "/R4/AllergyIntolerance/a1", token), services)
    assert response.status == 200 and json.loads(response.body) == {**R4_ALLERGY, "patient": {
        "reference": f"{GW}/R4/Patient/p1"}}  # the link on the R4 base the client called
    assert transport.requests[0].url == f"{PROVIDER}/AllergyIntolerance/a1"
    assert dict(transport.requests[0].headers)["Accept"] == "application/json+fhir;charset=utf-8"  # as sent


@pytest.mark.parametrize("client, provider", [("DSTU2", "STU3"), ("STU3", "DSTU2"), ("R4", "STU3"), ("R4", "DSTU2"),
                                              ("DSTU2", "R5-ish")])
async def test_a_pair_the_gateway_does_not_serve_is_refused_naming_both(services, client, provider):
    transport, token = await connect(services, provider)
    response = await proxy(request("GET", f"/{client}/Patient/p1", token), services)
    issue = outcome_of(response)
    if provider == "R5-ish":  # a stored route the gateway cannot read: its fault, not the client's
        assert response.status == 502 and "FHIR version configured" in issue["diagnostics"]
    else:
        assert response.status == 400 and issue["code"] == "not-supported"
        assert f"FHIR {provider}" in issue["diagnostics"] and f"FHIR {client} client" in issue["diagnostics"]
    media = "application/json+fhir" if client == "DSTU2" else "application/fhir+json"
    assert response.headers["Content-Type"].startswith(media)  # the client's version
    assert transport.requests == []


@pytest.mark.parametrize("stored", ["", "  "])
async def test_a_route_stored_without_a_version_is_the_default_version(services, stored):
    """Routes saved when each had to match FHIR_VERSION: still served as they were (passthrough on /fhir)."""
    transport, token = await connect(services, stored)
    response = await proxy(request("GET", "/Patient/p1", token), services)
    assert response.status == 200 and transport.requests[0].url == f"{PROVIDER}/Patient/p1"
    assert json.loads(response.body)["resourceType"] == "Patient"
    refused = await proxy(request("GET", "/DSTU2/Patient/p1", token), services)  # STU3 does not serve DSTU2
    assert refused.status == 400 and len(transport.requests) == 1


async def test_refusals_before_the_route_speak_the_version_of_the_base(services):
    await connect(services, "R4")
    response = await proxy(request("GET", "/DSTU2/Patient/p1", None), services)
    assert response.status == 401 and response.headers["Content-Type"].startswith("application/json+fhir")
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="{GW}/DSTU2"'


async def test_the_same_token_works_on_every_base(services):
    transport, token = await connect(services, "R4")
    for base in ("/R4", "/STU3", "/DSTU2", ""):  # /fhir is STU3 here
        assert (await proxy(request("GET", f"{base}/Patient/p1", token), services)).status == 200, base
    assert len(transport.requests) == 4


async def test_a_version_segment_is_case_sensitive(services):
    transport, token = await connect(services, "R4")
    response = await proxy(request("GET", "/stu3/Patient/p1", token), services)
    assert response.status == 400 and transport.requests == []


# -- the bridge --------------------------------------------------------------------------------------------------

async def test_an_stu3_client_reads_r4_converted_on_its_base(services):
    transport, token = await connect(services, "R4")
    response = await proxy(request("GET", "/STU3/AllergyIntolerance?patient=p1", token), services)
    assert response.status == 200 and response.headers["Content-Type"].startswith("application/fhir+json")
    bundle = json.loads(response.body)
    allergy = bundle["entry"][0]["resource"]
    assert (allergy["clinicalStatus"], allergy["verificationStatus"]) == ("active", "confirmed")
    assert allergy["assertedDate"] == "2018-01-01" and allergy["patient"]["reference"] == f"{GW}/STU3/Patient/p1"
    assert bundle["entry"][0]["fullUrl"] == f"{GW}/STU3/AllergyIntolerance/a1"
    sent = transport.requests[0]
    assert sent.url == f"{PROVIDER}/AllergyIntolerance?patient=p1"
    assert dict(sent.headers)["Accept"] == "application/fhir+json"


async def test_a_dstu2_clients_medication_order_is_an_r4_medication_request(services):
    transport, token = await connect(services, "R4", scopes="system/MedicationOrder.rs")
    response = await proxy(request("GET", "/DSTU2/MedicationOrder?patient=p1&_count=10", token), services)
    assert response.status == 200 and response.headers["Content-Type"].startswith("application/json+fhir")
    order = json.loads(response.body)["entry"][0]["resource"]
    assert order["resourceType"] == "MedicationOrder" and order["id"] == "m1"
    assert order["prescriber"]["display"] == "Dr. Adams" and order["dateWritten"] == "2020-01-01"
    assert transport.requests[0].url == f"{PROVIDER}/MedicationRequest?patient=p1&_count=10"
    read = await proxy(request("GET", "/DSTU2/MedicationOrder/m1", token), services)
    assert json.loads(read.body)["id"] == "m1" and transport.requests[1].url == f"{PROVIDER}/MedicationRequest/m1"
    # The scopes are judged in the client's version: MedicationRequest is no DSTU2 type the token grants.
    refused = await proxy(request("GET", "/DSTU2/Observation?patient=p1", token), services)
    assert refused.status == 403 and len(transport.requests) == 2


async def test_the_reference_clients_parameters_are_translated(services):
    transport, token = await connect(services, "R4")
    await proxy(request("GET", "/DSTU2/Encounter?patient=11013&_sort:desc=date&_count=1", token), services)
    await proxy(request("GET", "/DSTU2/Condition?patient=39&clinicalstatus=active,relapse", token), services)
    form = await proxy(request("POST", "/DSTU2/Patient/_search", token, body=b"name:contains=chau&_count=5",
                               headers=[("Content-Type", "application/x-www-form-urlencoded")]), services)
    assert form.status == 200
    sent = [r.url[len(PROVIDER):] for r in transport.requests]
    assert sent[:2] == ["/Encounter?patient=11013&_count=1&_sort=-date",
                        "/Condition?patient=39&clinical-status=active,recurrence"]
    assert transport.requests[2].body == b"name:contains=chau&_count=5"


async def test_an_untranslatable_parameter_is_a_400_naming_it_and_never_sent(services):
    transport, token = await connect(services, "R4")
    response = await proxy(request("GET", "/STU3/Observation?patient=1&nonsense-param=1", token), services)
    assert response.status == 400 and "nonsense-param" in outcome_of(response)["diagnostics"]
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    assert transport.requests == []


async def test_a_type_outside_the_bridge_is_refused_in_the_clients_version(services):
    transport, token = await connect(services, "R4")
    response = await proxy(request("GET", "/DSTU2/Procedure?patient=1", token), services)
    assert response.status == 404 and response.headers["Content-Type"].startswith("application/json+fhir")
    assert "Procedure" in outcome_of(response)["diagnostics"] and transport.requests == []


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/STU3/Patient", b'{"resourceType":"Patient"}'),
    ("PUT", "/STU3/Patient/p1", b'{"resourceType":"Patient","id":"p1"}'),
    ("DELETE", "/DSTU2/Patient/p1", b""),
    ("POST", "/STU3", b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE",'
                      b'"url":"Patient/p1"}}]}'),
])
async def test_writes_on_a_bridged_route_never_reach_the_provider(services, method, path, body):
    """Even on a route that allows writes, with a token that may write."""
    transport, token = await connect(services, "R4", scopes="system/*.cruds", allow_writes=True)
    response = await proxy(request(method, path, token, body=body,
                                   headers=[("Content-Type", "application/fhir+json")]), services)
    assert response.status == 403 and "read-only" in outcome_of(response)["diagnostics"]
    assert transport.requests == []
    r4_path = "/R4" + path.removeprefix("/STU3").removeprefix("/DSTU2")
    same_version = await proxy(request(method, r4_path, token, body=body,
                                       headers=[("Content-Type", "application/fhir+json")]), services)
    assert same_version.status == 200  # the route allows it for R4 clients


async def test_the_providers_operation_outcome_is_converted(services):
    _, token = await connect(services, "R4")
    response = await proxy(request("GET", "/STU3/Patient/gone", token), services)
    assert response.status == 404
    assert outcome_of(response)["code"] == "not-found"  # R4's "deleted" has no STU3 code


async def test_a_body_that_is_not_fhir_json_becomes_an_outcome_of_the_clients_version(services):
    _, token = await connect(services, "R4")
    response = await proxy(request("GET", "/DSTU2/Patient/html", token), services)
    assert response.status == 500 and b"<html>" not in response.body
    assert response.headers["Content-Type"].startswith("application/json+fhir")
    assert "not FHIR JSON" in outcome_of(response)["diagnostics"]


async def test_a_bridged_batch_is_translated_and_its_answer_converted(services):
    def batch_provider(sent: UpstreamRequest) -> UpstreamResponse:
        bundle = json.loads(sent.body)
        entries = [{"resource": R4_MEDICATION_REQUEST, "response": {"status": "200 OK"}} for _ in bundle["entry"]]
        return UpstreamResponse(200, [("Content-Type", "application/fhir+json")], json.dumps(
            {"resourceType": "Bundle", "type": "batch-response", "entry": entries}).encode(), "OK")

    transport, token = await connect(services, "R4", handler=batch_provider)
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "MedicationOrder?patient=1&_count=100"}},
        {"request": {"method": "GET", "url": "MedicationOrder/m1"}}]}
    response = await proxy(request("POST", "/DSTU2", token, body=json.dumps(batch).encode(),
                                   headers=[("Content-Type", "application/json+fhir;charset=utf-8")]), services)
    assert response.status == 200
    answer = json.loads(response.body)
    assert answer["type"] == "batch-response"
    assert [e["resource"]["resourceType"] for e in answer["entry"]] == ["MedicationOrder", "MedicationOrder"]
    sent = json.loads(transport.requests[0].body)
    assert [e["request"]["url"] for e in sent["entry"]] == ["MedicationRequest?patient=1&_count=100",
                                                           "MedicationRequest/m1"]
    assert dict(transport.requests[0].headers)["Content-Type"] == "application/fhir+json"


async def test_xml_is_refused_on_a_bridged_route(services):
    transport, token = await connect(services, "R4")
    response = await proxy(request("GET", "/STU3/Patient/p1?_format=xml", token), services)
    assert response.status == 406 and transport.requests == []
