"""The R4 base serves US Core-shaped data (US Core 7.0.0): every resource it serves is valid R4, converts to strictly
valid STU3 and DSTU2 with what the reference client reads intact, and carries what US certified EHRs send."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.demo_provider.catalog import catalog_for
from devtools.demo_provider.us_core import US_CORE
from gateway.convert import to_client
from tests.support.client_fields import view
from tests.support.validators import Dstu2Validator, validate_r4, validate_stu3

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def served() -> list[Resource]:
    """Every R4 resource the demo provider serves, as it serves it."""
    return [json.loads(entry.body) for entries in catalog_for("R4").by_type.values() for entry in entries]


@pytest.fixture(scope="module")
def dstu2() -> Iterator[Dstu2Validator]:
    validator = Dstu2Validator()
    yield validator
    validator.close()


def of_type(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r["resourceType"] == kind]


def test_every_served_r4_resource_is_valid_r4_and_names_its_us_core_profile(served: list[Resource]) -> None:
    for resource in served:
        validate_r4(resource)
        assert resource["meta"]["versionId"] == "1"
        assert [p for p in resource["meta"]["profile"] if p.startswith(US_CORE)], resource["id"]
    assert {r["resourceType"] for r in served} == {
        "Patient", "Practitioner", "Organization", "Location", "Encounter", "Observation", "Condition",
        "AllergyIntolerance", "MedicationRequest", "Medication", "Coverage"}


def test_every_served_r4_resource_converts_to_valid_stu3_keeping_what_the_client_reads(
        served: list[Resource]) -> None:
    for resource in served:
        stu3 = to_client(resource, "STU3")
        validate_stu3(stu3)
        assert stu3["id"] == resource["id"] and view(stu3, "STU3") == view(resource, "R4")


def test_every_served_r4_resource_converts_to_valid_dstu2_keeping_what_the_client_reads(
        served: list[Resource], dstu2: Dstu2Validator) -> None:
    converted = [to_client(resource, "DSTU2") for resource in served]
    errors = {c["id"]: e for c, e in zip(converted, dstu2.errors(converted), strict=True) if e}
    assert errors == {}
    for resource, older in zip(served, converted, strict=True):
        assert older["id"] == resource["id"] and view(older, "DSTU2") == view(resource, "R4")


def test_every_reference_resolves_to_a_served_resource(served: list[Resource]) -> None:
    ids = {(r["resourceType"], r["id"]) for r in served}
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                found.append(tuple(node["reference"].split("/")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(served)
    assert found and set(found) <= ids
    assert {kind for kind, _ in found} >= {"Patient", "Practitioner", "Organization", "Location", "Encounter",
                                          "Medication"}


def test_patients_carry_race_ethnicity_and_birth_sex(served: list[Resource]) -> None:
    for patient in of_type(served, "Patient"):
        extensions = {e["url"].removeprefix(US_CORE): e for e in patient["extension"]}
        for name in ("us-core-race", "us-core-ethnicity"):
            parts = {part["url"]: part for part in extensions[name]["extension"]}
            assert parts["ombCategory"]["valueCoding"]["system"] == "urn:oid:2.16.840.1.113883.6.238"
            assert parts["text"]["valueString"] == parts["ombCategory"]["valueCoding"]["display"]
        assert extensions["us-core-birthsex"]["valueCode"] == {"female": "F", "male": "M"}[patient["gender"]]
        assert patient["generalPractitioner"][0]["reference"].startswith("Practitioner/")
        assert patient["generalPractitioner"][0]["display"]


def test_vital_signs_have_their_profiles_and_blood_pressure_its_components(served: list[Resource]) -> None:
    observations = of_type(served, "Observation")
    pressures = [o for o in observations if o["code"]["coding"][0]["code"] == "85354-9"]
    assert pressures and all(o["meta"]["profile"] == [US_CORE + "us-core-blood-pressure"] for o in pressures)
    for pressure in pressures:
        assert "valueQuantity" not in pressure
        assert [c["code"]["coding"][0]["code"] for c in pressure["component"]] == ["8480-6", "8462-4"]
        assert all(c["valueQuantity"]["code"] == "mm[Hg]" for c in pressure["component"])
    oximetry = next(o for o in observations if o["code"]["coding"][0]["code"] == "59408-5")
    assert [c["code"] for c in oximetry["code"]["coding"]] == ["59408-5", "2708-6"]
    labs = [o for o in observations if o["category"][0]["coding"][0]["code"] == "laboratory"]
    assert labs and all(o["referenceRange"] and o["interpretation"] for o in labs)


def test_medications_are_coded_and_referenced(served: list[Resource]) -> None:
    requests = of_type(served, "MedicationRequest")
    referenced = [r for r in requests if "medicationReference" in r]
    coded = [r for r in requests if "medicationCodeableConcept" in r]
    assert referenced and coded and len(referenced) + len(coded) == len(requests)
    medications = {m["id"]: m for m in of_type(served, "Medication")}
    for request in referenced:
        medication = medications[request["medicationReference"]["reference"].removeprefix("Medication/")]
        assert request["medicationReference"]["display"] == medication["code"]["coding"][0]["display"]
    for request in requests:
        assert request["requester"]["reference"].startswith("Practitioner/") and request["requester"]["display"]
        assert request["dosageInstruction"][0]["text"]
    assert any("doseAndRate" in r["dosageInstruction"][0] for r in requests)
    demo = [r for r in requests if r["subject"]["reference"] == "Patient/demo-patient-1"]
    assert any("medicationReference" in r for r in demo) and any("medicationCodeableConcept" in r for r in demo)


def test_coverage_classes_payers_encounters_and_statuses(served: list[Resource]) -> None:
    for coverage in of_type(served, "Coverage"):
        assert [c["type"]["coding"][0]["code"] for c in coverage["class"]] == ["group", "plan"]
        assert all(c["value"] and c["name"] for c in coverage["class"])
        assert coverage["payor"][0]["reference"].startswith("Organization/") and coverage["payor"][0]["display"]
    for encounter in of_type(served, "Encounter"):
        assert encounter["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
        assert encounter["location"][0]["location"]["reference"].startswith("Location/")
        assert encounter["location"][0]["location"]["display"]
    for resource in of_type(served, "Condition") + of_type(served, "AllergyIntolerance"):
        for status in ("clinicalStatus", "verificationStatus"):
            assert resource[status]["coding"][0]["system"].startswith("http://terminology.hl7.org/CodeSystem/")
