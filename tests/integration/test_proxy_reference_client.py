"""The reference client's whole sequence (Teams Patients app, docs/patients-app-interface.md §2-§3),
for DSTU2 and STU3, through the proxy to a recording provider over real sockets: every call
reaches the provider exactly as sent, and every answer comes back on the gateway's base."""

import json

import pytest

from tests.fixtures.provider import connect
from tests.support.constants import DOTNET_HEADERS, GW, TENANT_A
from tests.support.fhir import request
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration

FORM = ("Content-Type", "application/x-www-form-urlencoded")
JSON_FHIR = ("Content-Type", "application/json+fhir;charset=utf-8")

DSTU2 = [
    ("GET", "Patient/49", b"", []),
    *[("POST", "Patient/_search", body, [FORM]) for body in (
        b"name:contains=chau", b"given:contains=chau", b"given:contains=hugh", b"birthdate=1957-06-05",
        b"birthdate=1957-06", b"birthdate=1957", b"_id=49")],
    ("POST", "", b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/19"}}]}',
     [JSON_FHIR]),
    ("GET", "Observation?patient=SMART-1288992&_sort:desc=date&category=vital-signs", b"", []),
    ("GET", "Condition?patient=39&_count=10", b"", []),
    ("GET", "Encounter?patient=11013&_sort:desc=date&_count=1", b"", []),
    ("GET", "AllergyIntolerance?patient=1", b"", []),
    ("GET", "MedicationOrder?patient=1&_count=100", b"", []),
    ("GET", "Coverage?patient=19", b"", []),
]
STU3 = [
    ("GET", "Patient/SMART-1288992", b"", []),
    *[("POST", "Patient/_search", body, [FORM]) for body in (
        b"birthdate=1951-08-23", b"birthdate=1951-08", b"_id=SMART-665677", b"birthdate=1951", b"given=ruth",
        b"given=ruth&family=black")],
    ("GET", "Observation?patient=SMART-1288992&category=vital-signs&_sort=-date", b"", []),
    ("GET", "Condition?patient=SMART-1288992&_count=10", b"", []),
    ("GET", "Encounter?patient=SMART-1288992&_sort:desc=date&_count=1", b"", []),
    ("GET", "AllergyIntolerance?patient=SMART-1288992", b"", []),
    ("GET", "MedicationRequest?patient=SMART-1288992&_count=10", b"", []),
    ("GET", "Coverage?patient=SMART-1288992", b"", []),
    ("POST", "", json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": u}} for u in (
            "Patient/1", "Encounter?patient=1", "Observation?patient=1", "MedicationRequest?patient=1",
            "AllergyIntolerance?patient=1", "Condition?patient=1")]}).encode(), [JSON_FHIR]),
]


@pytest.mark.parametrize("version, prefix, calls", [("DSTU2", "/dstu2", DSTU2), ("STU3", "/stu3", STU3)])
async def test_reference_client_sequence(services, provider, version, prefix, calls):
    token = await connect(services, TENANT_A, provider.base(prefix), fhir_version=version)
    for method, target, body, extra in calls:
        response = await proxy(request(method, f"/{target}" if target else "", token, body=body,
                                       headers=DOTNET_HEADERS + extra), services)
        assert response.status == 200, target
        assert provider.origin not in response.body.decode()
        seen = provider.requests[-1]
        path, _, query = target.partition("?")
        assert (seen.method, seen.path, seen.raw_query, seen.body) == (
            method, f"{prefix}/{path}" if path else prefix, query, body)
        assert seen.header("Accept") == "application/json+fhir;charset=utf-8"
        assert seen.header("Prefer") == "return=representation"
        for name, value in extra:
            assert seen.header(name) == value
        assert seen.header("Authorization") is None
        document = json.loads(response.body)
        for link in document.get("link", []):
            assert link["url"].startswith(GW)
    assert len(provider.requests) == len(calls)
