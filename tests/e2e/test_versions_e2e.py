"""DSTU2 and STU3 clients on a bridged R4 tenant, end to end: independent clients (fhirpy; SMART's client-py,
fhirclient 1.0.6 for DSTU2 and 3.x for STU3, each in its own venv) and the reference client's exact requests run
discover -> token -> read -> search (GET and POST) -> page to the end -> the reference client's batch through the
local Functions host (Azurite, the Key Vault emulator) to the demo provider's R4 base, every body validated
strictly in the client's version (tests/support/validators.py). The same tenant on /fhir/R4 is a passthrough of
the provider's bytes. The route is made through the admin API, which reads the provider's metadata: a route
declared STU3 for that R4 server is refused."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirpy import AsyncFHIRClient

from devtools.demo_provider.data import DEMO_PATIENT_ID
from tests.fixtures.funchost import LocalHost
from tests.support.constants import DOTNET_HEADERS, OTHER_TENANT, TENANT
from tests.support.validators import ROOT, Dstu2Validator, validate_r4, validate_stu3

pytestmark = pytest.mark.e2e

KEY = "versions-e2e-function-key"
SMART_CLIENT = Path(__file__).with_name("smart_client.py")
PYTHONS = {"DSTU2": ROOT / ".venv-dstu2" / "bin" / "python", "STU3": ROOT / ".venv-stu3" / "bin" / "python"}
MEDICATION = {"DSTU2": "MedicationOrder", "STU3": "MedicationRequest", "R4": "MedicationRequest"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Stack:
    """The local host with a client (a secret) and the bridged tenant's R4 route, made through the admin API."""

    def __init__(self, host: LocalHost, provider_base: str) -> None:
        self.host = host
        self.provider_base = provider_base
        self.admin = httpx.Client(base_url=host.base_url, headers={"x-functions-key": KEY}, timeout=30)
        created = self.admin.post("/manage/clients", json={"displayName": "Versions e2e", "allowedTenants": [TENANT]})
        assert created.status_code == 201, created.text
        self.client_id, self.secret = created.json()["clientId"], created.json()["clientSecret"]
        saved = self.admin.put(f"/manage/routes/{TENANT}", json={"fhirBaseUrl": provider_base, "fhirVersion": "R4"})
        assert saved.status_code == 201, saved.text
        self.check = saved.json()["fhirVersionCheck"]

    def base(self, version: str) -> str:
        return f"{self.host.base_url}/fhir/{version}"

    def token(self) -> str:
        answer = httpx.post(f"{self.host.base_url}/oauth2/token", data={"grant_type": "client_credentials",
                                                                       "scope": TENANT},
                            auth=(self.client_id, self.secret), timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]


@pytest.fixture(scope="module")
def stack(azurite, keyvault, demo_provider) -> Iterator[Stack]:
    """One local host for the module; PUBLIC_BASE_URL is its own address, so the links clients follow lead back."""
    azurite.start()
    keyvault.start()
    prefix = "v" + uuid.uuid4().hex[:12]
    host = LocalHost({"GATEWAY_ENVIRONMENT": "development", **azurite.settings(), **keyvault.settings(),
                      "TABLE_NAME_PREFIX": prefix, "KEY_VAULT_SECRET_PREFIX": prefix, "LOCAL_FUNCTION_KEY": KEY,
                      "FHIR_VERSION": "STU3"})
    host.env["PUBLIC_BASE_URL"] = host.base_url
    host.start()
    try:
        yield Stack(host, demo_provider.base("/r4"))
    finally:
        host.close()


@pytest.fixture(scope="module")
def dstu2() -> Iterator[Dstu2Validator]:
    validator = Dstu2Validator()
    yield validator
    validator.close()


def validator_of(version: str, dstu2: Dstu2Validator):
    return {"DSTU2": dstu2.check, "STU3": validate_stu3, "R4": validate_r4}[version]


def documents(bundle: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A Bundle and every resource in it (a batch-response entry's searchset's too)."""
    yield bundle
    for entry in bundle.get("entry", []):
        if "resource" in entry:
            yield from documents(entry["resource"]) if entry["resource"]["resourceType"] == "Bundle" \
                else iter([entry["resource"]])


# -- the route ---------------------------------------------------------------------------------------------------

def test_the_bridged_route_was_verified_and_one_declared_stu3_for_the_r4_server_is_refused(stack):
    assert stack.check["status"] == "verified" and stack.check["observedFhirVersion"] == "4.0.1"
    refused = stack.admin.put(f"/manage/routes/{OTHER_TENANT}", json={"fhirBaseUrl": stack.provider_base,
                                                                      "fhirVersion": "STU3"})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"] == [{"field": "fhirVersion", "message": "the provider's metadata states "
                                                                            "fhirVersion 4.0.1 (FHIR R4), not STU3"}]
    assert stack.admin.get(f"/manage/routes/{OTHER_TENANT}").status_code == 404
    verified = stack.admin.post(f"/manage/routes/{TENANT}/verify")
    assert verified.status_code == 200 and verified.json()["status"] == "verified"


# -- discovery ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version, resource_type, number", [("DSTU2", "Conformance", "1.0.2"),
                                                            ("STU3", "CapabilityStatement", "3.0.1"),
                                                            ("R4", "CapabilityStatement", "4.0.1")])
def test_each_base_has_open_metadata_and_smart_configuration_with_one_token_url(stack, dstu2, version, resource_type,
                                                                                 number):
    metadata = httpx.get(f"{stack.base(version)}/metadata", timeout=30)
    assert metadata.status_code == 200
    document = metadata.json()
    assert (document["resourceType"], document["fhirVersion"]) == (resource_type, number)
    validator_of(version, dstu2)(document)
    uris = next(e for e in document["rest"][0]["security"]["extension"] if "extension" in e)["extension"]
    assert {"url": "token", "valueUri": f"{stack.host.base_url}/oauth2/token"} in uris
    smart = httpx.get(f"{stack.base(version)}/.well-known/smart-configuration", timeout=30).json()
    assert smart["token_endpoint"] == f"{stack.host.base_url}/oauth2/token"


# -- fhirpy ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["DSTU2", "STU3"])
async def test_fhirpy_reads_searches_and_pages_to_the_end_on_a_bridged_base(stack, dstu2, version):
    check = validator_of(version, dstu2)
    fhir = AsyncFHIRClient(stack.base(version), authorization=f"Bearer {stack.token()}")
    patient = await fhir.reference("Patient", DEMO_PATIENT_ID).to_resource()
    check(patient.serialize())
    assert patient["id"] == DEMO_PATIENT_ID
    search = fhir.resources("Observation").search(patient=DEMO_PATIENT_ID, category="vital-signs").limit(4)
    first = await search.fetch_raw()
    everything = await search.fetch_all()  # page by page through the next links the gateway handed out
    assert first["total"] > 4 and len(everything) == first["total"]
    assert next(link["url"] for link in first["link"] if link["relation"] == "next").startswith(stack.base(version))
    for observation in everything:
        check(observation.serialize())
    for resource_type in ("Condition", "Encounter", "AllergyIntolerance", MEDICATION[version], "Coverage"):
        found = await fhir.resources(resource_type).search(patient=DEMO_PATIENT_ID).fetch_all()
        assert found, resource_type
        for resource in found:
            assert resource["resourceType"] == resource_type
            check(resource.serialize())


# -- SMART's client-py -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["DSTU2", "STU3"])
def test_smarts_client_py_in_its_version_on_a_bridged_base(stack, dstu2, version):
    python = PYTHONS[version]
    assert python.exists(), f"{python} is missing: `make test` makes it (make dstu2-validator stu3-client)"
    run = subprocess.run([str(python), str(SMART_CLIENT), stack.base(version), f"{stack.host.base_url}/oauth2/token",
                          stack.client_id, stack.secret, TENANT, DEMO_PATIENT_ID, MEDICATION[version]],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    done = lines[-1]["done"]
    assert done["patient"] == DEMO_PATIENT_ID and done["batch"] == 6 and done["pages"] > 6  # paged, not one each
    check = validator_of(version, dstu2)
    steps = set()
    for line in lines[:-1]:
        steps.add(line["step"].split()[0])
        for document in documents(line["resource"]):
            check(document)
    assert steps == {"metadata", "read", "search", "batch"}


# -- the reference client's exact requests -----------------------------------------------------------------------

REFERENCE = {
    "DSTU2": [("POST", "Patient/_search", b"name:contains=chau"), ("POST", "Patient/_search", b"birthdate=1957-06"),
              ("GET", f"Patient/{DEMO_PATIENT_ID}", b""),
              ("GET", f"Observation?patient={DEMO_PATIENT_ID}&_sort:desc=date&category=vital-signs", b""),
              ("GET", f"Condition?patient={DEMO_PATIENT_ID}&_count=10", b""),
              ("GET", f"Encounter?patient={DEMO_PATIENT_ID}&_sort:desc=date&_count=1", b""),
              ("GET", f"AllergyIntolerance?patient={DEMO_PATIENT_ID}", b""),
              ("GET", f"MedicationOrder?patient={DEMO_PATIENT_ID}&_count=100", b""),
              ("GET", f"Coverage?patient={DEMO_PATIENT_ID}", b"")],
    "STU3": [("POST", "Patient/_search", b"given=hugh&family=chau"), ("POST", "Patient/_search", b"birthdate=1957"),
             ("GET", f"Patient/{DEMO_PATIENT_ID}", b""),
             ("GET", f"Observation?patient={DEMO_PATIENT_ID}&category=vital-signs&_sort=-date", b""),
             ("GET", f"Condition?patient={DEMO_PATIENT_ID}&_count=10", b""),
             ("GET", f"Encounter?patient={DEMO_PATIENT_ID}&_sort:desc=date&_count=1", b""),
             ("GET", f"AllergyIntolerance?patient={DEMO_PATIENT_ID}", b""),
             ("GET", f"MedicationRequest?patient={DEMO_PATIENT_ID}&_count=10", b""),
             ("GET", f"Coverage?patient={DEMO_PATIENT_ID}", b"")],
}


@pytest.mark.parametrize("version", ["DSTU2", "STU3"])
def test_the_reference_clients_requests_on_a_bridged_base(stack, dstu2, version):
    check = validator_of(version, dstu2)
    media = "application/json+fhir" if version == "DSTU2" else "application/fhir+json"
    with httpx.Client(base_url=stack.base(version) + "/", timeout=30,
                      headers={**dict(DOTNET_HEADERS), "Authorization": f"Bearer {stack.token()}"}) as http:
        for method, target, body in REFERENCE[version]:
            answer = http.request(method, target, content=body, headers=FORM if body else None)
            assert answer.status_code == 200, (target, answer.text[:300])
            assert answer.headers["content-type"].startswith(media)
            for document in documents(answer.json()):
                check(document)
            assert stack.provider_base not in answer.text
        found = http.post("Patient/_search", content=b"name:contains=chau" if version == "DSTU2" else b"family=chau",
                          headers=FORM).json()
        assert [e["resource"]["id"] for e in found["entry"]] == [DEMO_PATIENT_ID]
        page = http.get(f"Observation?patient={DEMO_PATIENT_ID}&_count=5").json()
        seen, pages = len(page["entry"]), 1
        while (link := next((x["url"] for x in page["link"] if x["relation"] == "next"), None)) is not None:
            page = http.get(link).json()
            for document in documents(page):
                check(document)
            seen, pages = seen + len(page.get("entry", [])), pages + 1
        assert pages > 2 and seen == page["total"]
        urls = [f"Patient/{DEMO_PATIENT_ID}", f"Encounter?patient={DEMO_PATIENT_ID}",
                f"Observation?patient={DEMO_PATIENT_ID}", f"{MEDICATION[version]}?patient={DEMO_PATIENT_ID}",
                f"AllergyIntolerance?patient={DEMO_PATIENT_ID}", f"Condition?patient={DEMO_PATIENT_ID}"]
        batch = {"resourceType": "Bundle", "type": "batch",
                 "entry": [{"request": {"method": "GET", "url": u}} for u in urls]}
        answer = http.post("", content=json.dumps(batch).encode(), headers={"Content-Type": f"{media};charset=utf-8"})
        assert answer.status_code == 200
        bundle = answer.json()
        assert bundle["type"] == "batch-response" and [e["response"]["status"][:3] for e in bundle["entry"]] == \
            ["200"] * 6
        for document in documents(bundle):
            check(document)
        write = http.post("Patient", content=b'{"resourceType":"Patient"}', headers={"Content-Type": media})
        assert write.status_code == 403 and "read-only" in write.text  # bridged routes are read-only


# -- the R4 base: a passthrough ----------------------------------------------------------------------------------

def test_the_r4_base_passes_the_providers_bytes_through(stack):
    token = stack.token()
    gateway = stack.base("R4")
    for target in (f"Patient/{DEMO_PATIENT_ID}", f"Observation?patient={DEMO_PATIENT_ID}&_count=3",
                   f"MedicationRequest?patient={DEMO_PATIENT_ID}"):
        through = httpx.get(f"{gateway}/{target}", headers={"Authorization": f"Bearer {token}",
                                                            "Accept": "application/fhir+json"}, timeout=30)
        direct = httpx.get(f"{stack.provider_base}/{target}", headers={"Accept": "application/fhir+json"}, timeout=30)
        assert through.status_code == direct.status_code == 200
        signed = re.sub(rb"&_gateway_page=[A-Za-z0-9._-]+", b"", through.content)  # the gateway's page tokens
        assert signed == direct.content.replace(stack.provider_base.encode(), gateway.encode()), target
        validate_r4(through.json())
