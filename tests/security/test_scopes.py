"""Attacks on SMART scope enforcement through the whole proxy pipeline (Azurite, a recording provider stand-in):
each is refused with 403 ``forbidden`` and never reaches the provider."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_proxy_scopes import refused, setup
from tests.support.fhir import request
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration

FHIR_JSON = [("Content-Type", "application/fhir+json")]
PAGE = "_getpages=5c1a&_getpagesoffset=2&_count=2&_bundletype=searchset"


async def test_a_base_page_link_with_a_type_added_does_not_reach_another_types_page(services, provider):
    """HAPI answers ``<base>?_getpages=<id>`` with the page the id names, whatever ``_type`` says."""
    token = await setup(services, provider, allowed="system/*.rs", scope="system/Patient.rs")
    for extra in ("_type=Patient", "_TYPE=Patient", "_type:x=Patient", "%20_type=Patient", "_type=Patient;x"):
        refused(await proxy(request("GET", f"?{PAGE}&{extra}", token), services))
    refused(await proxy(request("GET", f"?{PAGE}", token), services))
    assert provider.requests == []


async def test_a_page_id_off_the_base_does_not_reach_another_types_page(services, provider):
    token = await setup(services, provider, allowed="system/*.rs", scope="system/Patient.rs")
    for path in ("/Patient?_getpages=5c1a", "/Patient/1?_getpages=5c1a", "/metadata?_getpages=5c1a"):
        refused(await proxy(request("GET", path, token), services))
    assert provider.requests == []


async def test_a_forged_page_token_is_not_a_page_link(services, provider):
    token = await setup(services, provider, allowed="system/*.rs", scope="system/Patient.rs")
    forged = "v1.20261201000000-00000000000000aa.1900000000.W1siUGF0aWVudCIsInNlYXJjaC10eXBlIiwwXV0." + "A" * 43
    refused(await proxy(request("GET", f"?{PAGE}&_gateway_page={forged}", token), services))
    assert provider.requests == []


async def test_near_miss_spellings_of_special_parameters_are_refused_even_with_every_scope(services, provider):
    token = await setup(services, provider, allowed="system/*.rs", scope="system/*.rs")
    for query in ("_INCLUDE=Patient:organization", "_Include=*", "_include:Iterate=Patient:link",
                  "_revInclude=Observation:subject", "_count:x=1", "%20_include=*", "_has=x"):
        refused(await proxy(request("GET", f"/Patient?{query}", token), services))
    assert provider.requests == []


async def test_contained_resources_cannot_bring_other_types(services, provider):
    token = await setup(services, provider, allowed="system/*.rs", scope="system/Observation.rs system/Patient.rs")
    for query in ("_contained=true", "_containedType=contained"):
        diagnostics = refused(await proxy(request("GET", f"/Observation?patient=1&{query}", token), services))
        assert diagnostics == "The token's scopes do not allow search-type on every resource type."
    assert provider.requests == []


async def test_a_create_cannot_carry_another_type(services, provider):
    token = await setup(services, provider, allowed="system/*.cruds", scope="system/Patient.cu", allow_writes=True)
    body = json.dumps({"resourceType": "Observation", "status": "final"}).encode()
    assert refused(await proxy(request("POST", "/Patient", token, body=body, headers=FHIR_JSON), services)) == \
        "The resource sent is not a Patient, the type its URL names."
    xml = b'<Observation xmlns="http://hl7.org/fhir"/>'
    refused(await proxy(request("POST", "/Patient", token, body=xml,
                                headers=[("Content-Type", "application/fhir+xml")]), services))
    assert provider.requests == []


async def test_an_update_cannot_change_another_resource_or_type(services, provider):
    token = await setup(services, provider, allowed="system/*.cruds", scope="system/Patient.u", allow_writes=True)
    for resource in ({"resourceType": "Patient", "id": "2"}, {"resourceType": "Observation", "id": "1"},
                     {"resourceType": "Patient"}):
        refused(await proxy(request("PUT", "/Patient/1", token, body=json.dumps(resource).encode(),
                                    headers=FHIR_JSON), services))
    assert provider.requests == []


async def test_a_transaction_entry_cannot_carry_another_type(services, provider):
    token = await setup(services, provider, allowed="system/*.cruds", scope="system/Patient.c", allow_writes=True)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Observation"}}]}
    refused(await proxy(request("POST", "", token, body=json.dumps(bundle).encode(), headers=FHIR_JSON), services))
    assert provider.requests == []


async def test_a_conditional_create_header_is_checked_as_a_search(services, provider):
    token = await setup(services, provider, allowed="system/*.cruds", scope="system/Patient.cs", allow_writes=True)
    headers = [*FHIR_JSON, ("If-None-Exist", "_has:Observation:subject:code=1234-5")]
    body = b'{"resourceType":"Patient"}'
    assert refused(await proxy(request("POST", "/Patient", token, body=body, headers=headers), services)) == \
        "The token's scopes do not allow search-type on Observation."
    assert provider.requests == []


async def test_a_transaction_entrys_if_none_exist_is_checked_as_a_search(services, provider):
    token = await setup(services, provider, allowed="system/*.cruds", scope="system/Patient.cs", allow_writes=True)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "Patient", "ifNoneExist": "_has:Observation:subject:code=1234-5"},
         "resource": {"resourceType": "Patient"}}]}
    refused(await proxy(request("POST", "", token, body=json.dumps(bundle).encode(), headers=FHIR_JSON), services))
    assert provider.requests == []


async def test_an_open_include_needs_every_type(services, provider):
    token = await setup(services, provider, allowed="system/*.rs", scope="system/Observation.rs system/Patient.rs")
    for value in ("*", "Observation:*", "Observation:subject", "Observation:subject:Organization"):
        refused(await proxy(request("GET", f"/Observation?patient=1&_include={value}", token), services))
    assert provider.requests == []
