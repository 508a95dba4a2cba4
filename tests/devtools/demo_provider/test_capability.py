"""Metadata documents: valid STU3 / R4 CapabilityStatements, DSTU2 Conformance with what the app reads."""

from __future__ import annotations

from fhir.resources.R4B.capabilitystatement import CapabilityStatement as R4CapabilityStatement
from fhir.resources.STU3.capabilitystatement import CapabilityStatement as STU3CapabilityStatement

from devtools.demo_provider.capability import capability_statement
from devtools.demo_provider.catalog import catalog_for

BASE = "http://127.0.0.1:8081"


def doc(version):
    return capability_statement(version, f"{BASE}/{version.lower()}", catalog_for(version).types)


def test_stu3_capability_statement_is_valid_and_lists_every_type():
    statement = doc("STU3")
    STU3CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "3.0.1"
    assert {r["type"] for r in statement["rest"][0]["resource"]} >= {"Patient", "MedicationRequest", "Coverage"}
    assert statement["rest"][0]["interaction"] == [{"code": "batch"}]


def test_r4_capability_statement_is_valid():
    statement = doc("R4")
    R4CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1" and "acceptUnknown" not in statement


def test_dstu2_conformance_has_what_the_patients_app_reads():
    statement = doc("DSTU2")
    assert statement["resourceType"] == "Conformance" and statement["fhirVersion"] == "1.0.2"
    rest = statement["rest"][0]
    assert rest["mode"] == "server" and rest["interaction"] and rest["transactionMode"] == "batch"
    assert "MedicationOrder" in {r["type"] for r in rest["resource"]}
    assert statement["implementation"]["url"] == f"{BASE}/dstu2"
