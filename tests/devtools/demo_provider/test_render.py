"""Resource shapes per FHIR version: STU3 and R4 validated by fhir.resources; DSTU2 checked field by field."""

from __future__ import annotations

import fhir.resources.R4B as r4b
import fhir.resources.STU3 as stu3
import pytest

from devtools.demo_provider import data, render


@pytest.fixture(scope="module")
def dataset() -> data.DataSet:
    return data.generate()


def by_type(resources, kind):
    return [r for r in resources if r["resourceType"] == kind]


@pytest.mark.parametrize(("version", "package"), [("STU3", stu3), ("R4", r4b)])
def test_every_resource_is_valid(dataset, version, package):
    resources = render.render_all(version, dataset)
    for resource in resources:
        package.get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    referenced = {"Practitioner", "Organization", "Medication"} if version == "R4" else set()
    assert {r["resourceType"] for r in resources} == {
        "Patient", "Location", "Encounter", "Observation", "Condition", "AllergyIntolerance",
        render.medication_type(version), "Coverage", *referenced}


def test_dstu2_shapes_are_what_the_patients_app_reads(dataset):
    resources = render.render_all("DSTU2", dataset)
    patient = by_type(resources, "Patient")[0]
    assert patient["name"][0] == {"use": "official", "family": ["Chau"], "given": ["Hugh"], "prefix": ["Mr"]}
    assert patient["careProvider"] == [{"display": "Jane Doe"}]
    mrn = patient["identifier"][0]
    assert mrn["type"]["coding"][0]["system"] == "http://hl7.org/fhir/v2/0203"
    assert mrn["type"]["coding"][0]["code"] == "MR" and mrn["value"] == "1234567"
    allergy = by_type(resources, "AllergyIntolerance")[0]
    assert "code" not in allergy and allergy["substance"]["text"] and allergy["status"] == "confirmed"
    assert allergy["reaction"][0]["manifestation"][0]["text"]
    order = by_type(resources, "MedicationOrder")[0]
    assert order["dateWritten"] and order["prescriber"]["display"] and order["medicationCodeableConcept"]["text"]
    encounter = by_type(resources, "Encounter")[0]
    assert encounter["type"][0]["coding"][0]["display"] and encounter["patient"]["reference"].startswith("Patient/")
    assert encounter["location"][0]["location"]["display"]
    assert encounter["period"]["start"][:4].isdigit() and "T" in encounter["period"]["start"]
    observation = by_type(resources, "Observation")[0]
    assert observation["category"]["coding"][0]["code"] == "vital-signs"  # a single CodeableConcept in DSTU2
    condition = by_type(resources, "Condition")[0]
    assert condition["code"]["coding"][0]["display"] and condition["dateRecorded"]
    coverage = by_type(resources, "Coverage")[0]
    assert coverage["issuer"]["display"] and coverage["plan"]


def test_stu3_status_fields_are_codes_and_r4_status_fields_are_codeable_concepts(dataset):
    stu3_allergy = by_type(render.render_all("STU3", dataset), "AllergyIntolerance")[0]
    r4_allergy = by_type(render.render_all("R4", dataset), "AllergyIntolerance")[0]
    assert stu3_allergy["clinicalStatus"] == "active" and stu3_allergy["verificationStatus"] == "confirmed"
    assert r4_allergy["clinicalStatus"]["coding"][0]["code"] == "active"
    assert stu3_allergy["code"]["coding"][0]["display"] == stu3_allergy["code"]["text"]


def test_stu3_coverage_and_medication_request_carry_the_fields_the_app_reads(dataset):
    resources = render.render_all("STU3", dataset)
    coverage = by_type(resources, "Coverage")[0]
    assert coverage["grouping"]["groupDisplay"] and coverage["grouping"]["planDisplay"]
    assert coverage["period"]["start"] and coverage["subscriberId"]
    request = by_type(resources, "MedicationRequest")[0]
    assert request["requester"]["agent"]["display"] and request["authoredOn"]
    assert request["dosageInstruction"][0]["text"]
    patient = by_type(resources, "Patient")[1]
    assert patient["name"][0]["family"] == "Black" and patient["name"][0]["given"] == ["Ruth", "C."]
    assert patient["generalPractitioner"][0]["display"]
