"""The metadata documents: STU3 and R4 validated with fhir.resources (tests only), DSTU2 field by field."""

from __future__ import annotations

import pytest

from gateway.fhir.capability import OAUTH_URIS, capability_document, resource_types
from gateway.fhir.versions import DSTU2
from tests.fixtures.common import make_settings

CLIENT_RESOURCES = {"Patient", "Encounter", "Observation", "Condition", "AllergyIntolerance", "Coverage", "Location"}


def oauth_uris(document: dict) -> dict[str, str]:
    (extension,) = [e for e in document["rest"][0]["security"]["extension"] if e["url"] == OAUTH_URIS]
    return {e["url"]: e["valueUri"] for e in extension["extension"]}


def test_stu3_capability_statement_validates():
    from fhir.resources.STU3.capabilitystatement import CapabilityStatement

    document = capability_document(make_settings(FHIR_VERSION="STU3"))
    model = CapabilityStatement.model_validate(document)
    assert model.fhirVersion == "3.0.1"
    assert model.acceptUnknown == "both"


def test_r4_capability_statement_validates():
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    document = capability_document(make_settings(FHIR_VERSION="R4"))
    model = CapabilityStatement.model_validate(document)
    assert model.fhirVersion == "4.0.1"
    assert "acceptUnknown" not in document


@pytest.mark.parametrize("version,medication", [("DSTU2", "MedicationOrder"), ("STU3", "MedicationRequest"),
                                                ("R4", "MedicationRequest")])
def test_every_resource_the_client_uses_with_read_and_search(version, medication):
    document = capability_document(make_settings(FHIR_VERSION=version))
    rest = document["rest"][0]
    assert rest["mode"] == "server"
    assert {r["type"] for r in rest["resource"]} == CLIENT_RESOURCES | {medication}
    for resource in rest["resource"]:
        assert [i["code"] for i in resource["interaction"]] == ["read", "search-type"]
        assert resource["searchParam"]
    assert rest["interaction"] == [{"code": "transaction" if version == "DSTU2" else "batch"}]


def test_patient_search_parameters_cover_what_the_client_sends():
    document = capability_document(make_settings())
    patient = next(r for r in document["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"_id", "identifier", "family", "given", "name", "birthdate"} <= {p["name"] for p in patient["searchParam"]}
    observation = next(r for r in document["rest"][0]["resource"] if r["type"] == "Observation")
    assert {"patient", "category", "date"} <= {p["name"] for p in observation["searchParam"]}


@pytest.mark.parametrize("version", ["DSTU2", "STU3", "R4"])
def test_security_advertises_the_token_url_from_public_base_url(version):
    document = capability_document(make_settings(FHIR_VERSION=version, PUBLIC_BASE_URL="https://gw.example.org"))
    assert oauth_uris(document) == {"token": "https://gw.example.org/oauth2/token",
                                    "authorize": "https://gw.example.org/oauth2/authorize"}
    codes = [c["code"] for c in document["rest"][0]["security"]["service"][0]["coding"]]
    assert set(codes) == {"OAuth"}
    assert document["implementation"]["url"] == "https://gw.example.org/fhir"


def test_dstu2_conformance_field_by_field():
    document = capability_document(make_settings(FHIR_VERSION="DSTU2"))
    assert document["resourceType"] == "Conformance"
    assert document["fhirVersion"] == "1.0.2"
    assert document["status"] == "active"
    assert document["kind"] == "instance"
    assert document["acceptUnknown"] == "both"
    assert document["format"] == ["json"]
    assert len(document["date"]) == 10 and document["date"][4] == "-"
    assert document["software"]["name"] and document["software"]["version"]
    assert document["implementation"]["url"] == "http://localhost:7071/fhir"
    rest = document["rest"][0]
    assert rest["mode"] == "server"
    coding = rest["security"]["service"][0]["coding"][0]
    assert coding == {"system": "http://hl7.org/fhir/restful-security-service", "code": "OAuth", "display": "OAuth"}
    assert oauth_uris(document)["token"] == "http://localhost:7071/oauth2/token"
    assert [r["type"] for r in rest["resource"]] == resource_types(DSTU2)
    patient = rest["resource"][0]
    family = next(p for p in patient["searchParam"] if p["name"] == "family")
    assert family["type"] == "string" and "contains" in family["modifier"]
    # every searchParam uses DSTU2's search-param-type codes
    assert rest["interaction"] == [{"code": "transaction"}]  # DSTU2 system-restful-interaction has no "batch"
    allowed = {"number", "date", "string", "token", "reference", "composite", "quantity", "uri"}
    assert all(p["type"] in allowed for r in rest["resource"] for p in r["searchParam"])
    # only DSTU2 element names (no STU3/R4-only elements at the top level)
    assert set(document) <= {"resourceType", "url", "version", "name", "status", "experimental", "publisher",
                             "contact", "date", "description", "requirements", "copyright", "kind", "software",
                             "implementation", "fhirVersion", "acceptUnknown", "format", "profile", "rest"}


@pytest.mark.parametrize("version", ["DSTU2", "STU3", "R4"])
def test_smart_capabilities_agree_with_the_smart_configuration(version):
    from gateway.fhir.capability import SMART_CAPABILITIES_URL
    from gateway.fhir.smart import smart_configuration

    settings = make_settings(FHIR_VERSION=version)
    security = capability_document(settings)["rest"][0]["security"]
    advertised = [e["valueCode"] for e in security["extension"] if e["url"] == SMART_CAPABILITIES_URL]
    assert advertised == smart_configuration(settings)["capabilities"]
    assert {"client-confidential-asymmetric", "permission-v2", "permission-v1"} <= set(advertised)
    assert "private_key_jwt" in security["description"]
    assert oauth_uris(capability_document(settings))["token"] == smart_configuration(settings)["token_endpoint"]
