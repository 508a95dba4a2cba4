"""The reference client's sequence against the project's demo FHIR server (DSTU2 and STU3), through
the proxy over real sockets: real search results, paging through ``next`` to the end, batches."""

import json

import pytest

from tests.fixtures.provider import connect
from tests.support.constants import DOTNET_HEADERS, GW, TENANT_A
from tests.support.fhir import request
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration

PATIENT = "demo-patient-1"
FORM = [("Content-Type", "application/x-www-form-urlencoded")]


def _assert_on_gateway(document, origin):
    text = json.dumps(document)
    assert origin not in text
    for link in document.get("link", []):
        assert link["url"].startswith(GW)
    for entry in document.get("entry", []):
        if "fullUrl" in entry:
            assert entry["fullUrl"].startswith(GW)


@pytest.mark.parametrize("version, segment, medication", [("DSTU2", "dstu2", "MedicationOrder"),
                                                           ("STU3", "stu3", "MedicationRequest")])
@pytest.mark.parametrize("batch_mode", ["passthrough", "fanout"])
async def test_reference_client_against_the_demo_provider(services, demo_provider, version, segment, medication,
                                                          batch_mode):
    token = await connect(services, TENANT_A, demo_provider.base(f"/{segment}"), fhir_version=version,
                          batch_mode=batch_mode)

    async def call(method, target, body=b"", extra=()):
        response = await proxy(request(method, target, token, body=body, headers=DOTNET_HEADERS + list(extra)),
                               services)
        assert response.status == 200, (target, response.body[:300])
        document = json.loads(response.body)
        _assert_on_gateway(document, demo_provider.origin)
        return document

    patient = await call("GET", f"/Patient/{PATIENT}")
    assert patient["resourceType"] == "Patient" and patient["id"] == PATIENT
    found = await call("POST", "/Patient/_search", b"name:contains=chau", FORM)
    assert found["total"] >= 1
    assert any(e["fullUrl"] == f"{GW}/Patient/{PATIENT}" for e in found["entry"])
    for target in (f"/Observation?patient={PATIENT}&_sort:desc=date&category=vital-signs",
                   f"/Condition?patient={PATIENT}&_count=10",
                   f"/Encounter?patient={PATIENT}&_sort:desc=date&_count=1",
                   f"/AllergyIntolerance?patient={PATIENT}",
                   f"/{medication}?patient={PATIENT}&_count=10",
                   f"/Coverage?patient={PATIENT}"):
        assert (await call("GET", target))["resourceType"] == "Bundle"

    page = await call("GET", f"/Observation?patient={PATIENT}&_count=20")
    total = page["total"]
    seen = len(page.get("entry", []))
    pages = 1
    while True:
        nxt = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
        if nxt is None or pages >= 200:
            break
        page = await call("GET", nxt)
        seen += len(page.get("entry", []))
        pages += 1
    assert pages > 1
    assert seen == total

    urls = [f"Patient/{PATIENT}", f"Encounter?patient={PATIENT}", f"Observation?patient={PATIENT}",
            f"{medication}?patient={PATIENT}", f"AllergyIntolerance?patient={PATIENT}", f"Condition?patient={PATIENT}"]
    batch = json.dumps({"resourceType": "Bundle", "type": "batch",
                        "entry": [{"request": {"method": "GET", "url": u}} for u in urls]}).encode()
    media = "application/json+fhir" if version == "DSTU2" else "application/fhir+json"
    answer = await call("POST", "", batch, [("Content-Type", f"{media};charset=utf-8")])
    assert answer["type"] == "batch-response" and len(answer["entry"]) == 6
    assert [e["response"]["status"].split()[0] for e in answer["entry"]] == ["200"] * 6
    assert answer["entry"][0]["resource"]["id"] == PATIENT
