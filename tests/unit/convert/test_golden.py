"""Real R4 examples this repository did not write (HL7 US Core 7.0.0, CC0; tests/fixtures/r4_examples/SOURCE.md)
converted to STU3 and DSTU2: strictly valid there, the reference client's fields intact, and valid R4 again
on the way back."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.convert import convert, to_client
from tests.support.client_fields import coverage_groups, view
from tests.support.validators import Dstu2Validator, validate_r4, validate_stu3

EXAMPLES = sorted((Path(__file__).parents[2] / "fixtures" / "r4_examples" / "us_core").glob("*.json"))


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES[0].parent / name).read_text())


@pytest.fixture(params=[p.name for p in EXAMPLES])
def example(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def test_the_examples_are_valid_r4(example: dict[str, Any]) -> None:
    validate_r4(example)


def test_stu3_is_strictly_valid_keeps_what_the_client_reads_and_returns_to_valid_r4(example: dict[str, Any]) -> None:
    stu3 = to_client(example, "STU3")
    validate_stu3(stu3)
    assert stu3.get("id") == example.get("id")
    assert view(stu3, "STU3") == view(example, "R4")
    back = convert(stu3, "STU3", "R4")
    validate_r4(back)
    assert view(back, "R4") == view(example, "R4")


def test_dstu2_is_strictly_valid_keeps_what_the_client_reads_and_returns_to_valid_r4(
        example: dict[str, Any], dstu2: Dstu2Validator) -> None:
    converted = to_client(example, "DSTU2")
    dstu2.check(converted)
    assert converted.get("id") == example.get("id")
    assert view(converted, "DSTU2") == view(example, "R4")
    back = convert(converted, "DSTU2", "R4")
    validate_r4(back)
    assert view(back, "R4") == view(example, "R4")


def test_conversion_leaves_its_input_as_it_was(example: dict[str, Any]) -> None:
    """Converted documents share unchanged values with their source; neither direction may write into it."""
    before = copy.deepcopy(example)
    for version in ("STU3", "DSTU2"):
        older = to_client(example, version)
        converted = copy.deepcopy(older)
        convert(older, version, "R4")
        assert older == converted
    assert example == before


def test_condition_statuses_become_codes_and_recorded_date_moves() -> None:
    condition = load("condition-encounter-diagnosis-example1.json")
    stu3, dstu2 = to_client(condition, "STU3"), to_client(condition, "DSTU2")
    assert (stu3["clinicalStatus"], stu3["verificationStatus"]) == ("resolved", "confirmed")
    assert stu3["assertedDate"] == condition["recordedDate"] and "recordedDate" not in stu3
    assert stu3["context"] == condition["encounter"]
    assert dstu2["patient"] == condition["subject"] and dstu2["dateRecorded"] == condition["recordedDate"][:10]
    assert isinstance(dstu2["category"], dict)


def test_medication_request_requester_and_the_dstu2_medication_order() -> None:
    request = load("medicationrequest-coded-oral-axid.json")
    stu3, dstu2 = to_client(request, "STU3"), to_client(request, "DSTU2")
    assert stu3["requester"] == {"agent": request["requester"]}
    assert dstu2["resourceType"] == "MedicationOrder" and dstu2["id"] == request["id"]
    assert dstu2["prescriber"] == request["requester"] and dstu2["dateWritten"] == request["authoredOn"]
    assert {"url": "http://hl7.org/fhir/4.0/StructureDefinition/extension-MedicationRequest.intent",
            "valueCode": request["intent"]} in dstu2["extension"]
    assert convert(dstu2, "DSTU2", "R4")["intent"] == request["intent"]


def test_contained_medication_is_converted_with_its_request() -> None:
    request = load("medicationrequest-contained-oral-axid.json")
    dstu2 = to_client(request, "DSTU2")
    assert [c["resourceType"] for c in dstu2["contained"]] == ["Medication"]
    assert dstu2["medicationReference"]["reference"] == request["medicationReference"]["reference"]


def test_coverage_classes_become_stu3_grouping_and_dstu2_group_and_plan() -> None:
    coverage = load("coverage-example.json")
    stu3, dstu2 = to_client(coverage, "STU3"), to_client(coverage, "DSTU2")
    assert coverage_groups(stu3, "STU3") == coverage_groups(coverage, "R4")
    assert stu3["grouping"]["groupDisplay"] and stu3["grouping"]["planDisplay"]
    assert (dstu2["group"], dstu2["plan"]) == ("xyz", "gold")
    assert dstu2["issuer"] == coverage["payor"][0]
    assert dstu2["subscriberId"] == {"value": coverage["subscriberId"]}
    assert convert(dstu2, "DSTU2", "R4")["status"] == "active"  # carried in its cross-version extension


def test_encounter_class_is_a_dstu2_code_and_back_a_coding() -> None:
    encounter = load("encounter-1036.json")
    dstu2 = to_client(encounter, "DSTU2")
    assert dstu2["class"] == "inpatient" and encounter["class"]["code"] == "IMP"
    assert convert(dstu2, "DSTU2", "R4")["class"]["code"] == "IMP"


def test_patient_family_is_a_dstu2_list_and_race_extensions_stay() -> None:
    patient = load("patient-example.json")
    dstu2 = to_client(patient, "DSTU2")
    assert dstu2["name"][0]["family"] == [patient["name"][0]["family"]]
    assert [e["url"] for e in dstu2["extension"]] == [e["url"] for e in patient["extension"]]


def test_allergy_statuses() -> None:
    allergy = load("allergyintolerance-example.json")
    stu3, dstu2 = to_client(allergy, "STU3"), to_client(allergy, "DSTU2")
    assert (stu3["clinicalStatus"], stu3["verificationStatus"]) == ("active", "confirmed")
    assert dstu2["status"] == "active" and dstu2["criticality"] == "CRITH"
    back = convert(stu3, "STU3", "R4")
    assert back["clinicalStatus"]["coding"][0]["code"] == "active"


def test_a_bundle_with_an_unbridged_type_keeps_the_rest_and_says_what_it_left_out(dstu2: Dstu2Validator) -> None:
    bundle = load("PractitionerRole_Practitioner_Endpoint_Bundle_Example.json")
    for version in ("STU3", "DSTU2"):
        converted = to_client(bundle, version)
        kinds = [e["resource"]["resourceType"] for e in converted["entry"]]
        assert "PractitionerRole" not in kinds and "Practitioner" in kinds
        outcome = converted["entry"][-1]
        assert outcome["search"]["mode"] == "outcome"
        assert "PractitionerRole" in outcome["resource"]["issue"][0]["diagnostics"]
    validate_stu3(to_client(bundle, "STU3"))
    dstu2.check(to_client(bundle, "DSTU2"))


def test_a_dstu2_conformance_names_the_dstu2_types(dstu2: Dstu2Validator) -> None:
    """What the reference client reads of the metadata: ``rest.resource.type`` in its own version's names."""
    statement = {"resourceType": "CapabilityStatement", "status": "active", "date": "2024-01-01", "kind": "instance",
                 "fhirVersion": "4.0.1", "format": ["json"],
                 "rest": [{"mode": "server", "resource": [
                     {"type": kind, "interaction": [{"code": "read"}, {"code": "search-type"}]}
                     for kind in ("Patient", "MedicationRequest", "Coverage")]}]}
    conformance = to_client(statement, "DSTU2")
    dstu2.check(conformance)
    assert [r["type"] for r in conformance["rest"][0]["resource"]] == ["Patient", "MedicationOrder", "Coverage"]
    assert [r["type"] for r in to_client(statement, "STU3")["rest"][0]["resource"]] == [
        "Patient", "MedicationRequest", "Coverage"]
    back = convert(conformance, "DSTU2", "R4")
    validate_r4(back)
    assert [r["type"] for r in back["rest"][0]["resource"]] == ["Patient", "MedicationRequest", "Coverage"]
