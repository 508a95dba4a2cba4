"""Read requests of DSTU2/STU3 clients in R4 terms: every request the reference client sends
(patients-app-interface.md §2.1, §3.1, Appendix A), and the parameters that cannot be translated."""

from __future__ import annotations

import pytest

from gateway.convert.errors import UnsupportedResource, UntranslatableParameter, UntranslatableRequest
from gateway.convert.requests import translate_batch, translate_form, translate_path, translate_query, translate_url

# A small fake of the generated R4 search parameter tables: (version, type, name) -> defined.
R4_PARAMETERS = {
    "Patient": {"family", "given", "name", "birthdate", "gender", "identifier", "general-practitioner"},
    "Observation": {"patient", "subject", "category", "code", "date", "encounter"},
    "Condition": {"patient", "clinical-status", "recorded-date", "onset-date", "encounter", "code"},
    "Encounter": {"patient", "date", "location", "reason-code", "reason-reference"},
    "AllergyIntolerance": {"patient", "clinical-status", "verification-status", "code", "asserter"},
    "MedicationRequest": {"patient", "authoredon", "requester", "medication", "encounter"},
    "Coverage": {"patient", "payor", "class-value", "beneficiary"},
    "Location": {"name"},
}


def exists(version: str, resource_type: str, name: str) -> bool:
    assert version == "R4"
    return name in R4_PARAMETERS.get(resource_type, set())


def query(resource_type: str | None, params: list[tuple[str, str]], client: str = "DSTU2") -> list[tuple[str, str]]:
    return translate_query(resource_type, params, client, parameter_exists=exists)


@pytest.mark.parametrize(("path", "expected"), [
    ("MedicationOrder", "MedicationRequest"), ("MedicationOrder/7", "MedicationRequest/7"),
    ("MedicationOrder/_search", "MedicationRequest/_search"),
    ("Patient/1/MedicationOrder", "Patient/1/MedicationRequest"),
    ("MedicationOrder/7/_history/2", "MedicationRequest/7/_history/2"), ("Patient/49", "Patient/49"),
    ("", ""), ("metadata", "metadata"), ("_search", "_search"),
])
def test_dstu2_paths_name_r4_types(path: str, expected: str) -> None:
    assert translate_path(path, "DSTU2") == expected


@pytest.mark.parametrize(("path", "client"), [("MedicationRequest/1", "DSTU2"), ("MedicationOrder", "STU3"),
                                              ("Procedure/1", "STU3"), ("Patient/1/Procedure", "DSTU2")])
def test_types_outside_the_bridge_or_the_clients_version_are_refused(path: str, client: str) -> None:
    with pytest.raises(UnsupportedResource):
        translate_path(path, client)


@pytest.mark.parametrize("client", ["DSTU2", "STU3"])
def test_the_reference_clients_sort_becomes_r4_sort(client: str) -> None:
    assert query("Observation", [("patient", "SMART-1288992"), ("_sort:desc", "date"), ("category", "vital-signs")],
                 client) == [("patient", "SMART-1288992"), ("category", "vital-signs"), ("_sort", "-date")]
    assert query("Encounter", [("patient", "11013"), ("_sort:desc", "date"), ("_count", "1")], client) == [
        ("patient", "11013"), ("_count", "1"), ("_sort", "-date")]
    assert query("Observation", [("_sort", "-date")], client) == [("_sort", "-date")]


def test_repeated_dstu2_sorts_become_one_ordered_list() -> None:
    assert query("Observation", [("_sort:desc", "date"), ("_sort:asc", "code")]) == [("_sort", "-date,code")]


@pytest.mark.parametrize("body", [b"name:contains=chau", b"given:contains=hugh", b"family:contains=chau",
                                  b"birthdate=1957-06-05", b"birthdate=1957-06", b"birthdate=1957", b"_id=49",
                                  b"given=hugh&family=chau", b"identifier=1234567", b"_count=10&gender=male"])
def test_the_reference_clients_patient_searches_pass_unchanged(body: bytes) -> None:
    assert translate_form(body, "Patient", "DSTU2", parameter_exists=exists) == body
    assert translate_form(body, "Patient", "STU3", parameter_exists=exists) == body


def test_the_reference_clients_other_searches() -> None:
    assert query("Condition", [("patient", "39"), ("_count", "10")]) == [("patient", "39"), ("_count", "10")]
    assert query("MedicationOrder", [("patient", "1"), ("_count", "100")]) == [("patient", "1"), ("_count", "100")]
    assert query("AllergyIntolerance", [("patient", "1")]) == [("patient", "1")]
    assert query("Coverage", [("patient", "19")]) == [("patient", "19")]


def test_condition_clinicalstatus_is_renamed_and_its_codes_mapped() -> None:
    assert query("Condition", [("clinicalstatus", "active,relapse")]) == [("clinical-status", "active,recurrence")]
    assert query("Condition", [("clinicalstatus", "http://hl7.org/fhir/condition-clinical|relapse")]) == [
        ("clinical-status", "http://terminology.hl7.org/CodeSystem/condition-clinical|recurrence")]
    assert query("Condition", [("clinical-status", "active")], "STU3") == [("clinical-status", "active")]
    with pytest.raises(UntranslatableParameter, match="clinicalstatus"):
        query("Condition", [("clinicalstatus", "bogus")])


def test_renamed_parameters() -> None:
    assert query("MedicationOrder", [("datewritten", "ge2020"), ("prescriber", "Practitioner/1")]) == [
        ("authoredon", "ge2020"), ("requester", "Practitioner/1")]
    assert query("Observation", [("context", "Encounter/1")], "STU3") == [("encounter", "Encounter/1")]
    assert query("Condition", [("asserted-date", "2020")], "STU3") == [("recorded-date", "2020")]


def test_dstu2_allergy_status_splits_by_value() -> None:
    assert query("AllergyIntolerance", [("status", "active")]) == [("clinical-status", "active")]
    assert query("AllergyIntolerance", [("status", "confirmed,refuted")]) == [("verification-status",
                                                                               "confirmed,refuted")]
    with pytest.raises(UntranslatableParameter, match="status"):
        query("AllergyIntolerance", [("status", "active,confirmed")])


def test_include_targets_and_reference_values_name_r4_types() -> None:
    assert query("MedicationOrder", [("_include", "MedicationOrder:medication")]) == [
        ("_include", "MedicationRequest:medication")]
    assert query("Encounter", [("_include", "Encounter:location:Location")]) == [
        ("_include", "Encounter:location:Location")]
    assert query("Patient", [("_revinclude", "MedicationOrder:patient")]) == [
        ("_revinclude", "MedicationRequest:patient")]
    assert query("MedicationOrder", [("patient:Patient", "1")]) == [("patient:Patient", "1")]


@pytest.mark.parametrize(("params", "named"), [
    ([("bogus", "1")], "bogus"),
    ([("family:sounds-like", "x")], "family:sounds-like"),
    ([("_sort:desc", "nonsense")], "_sort:desc"),
    ([("_include", "MedicationOrder:nonsense")], "_include"),
    ([("_include", "Procedure:patient")], None),
    ([("_has", "Observation:patient:code=1")], "_has"),
    ([("subject.name", "x")], "subject.name"),
    ([("_summary", "everything")], "_summary"),
])
def test_a_parameter_that_cannot_be_translated_is_named_never_dropped(params: list[tuple[str, str]],
                                                                      named: str | None) -> None:
    with pytest.raises((UntranslatableParameter, UnsupportedResource)) as caught:
        query("Patient", params)
    if named is not None:
        assert isinstance(caught.value, UntranslatableParameter) and caught.value.parameter == named
        assert named in str(caught.value)


def test_paging_continuations_on_the_base_pass_unchanged() -> None:
    params = [("_getpages", "abc"), ("_getpagesoffset", "10"), ("_count", "10")]
    assert query(None, params) == params


def test_the_reference_clients_batch() -> None:
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/19"}},
        {"request": {"method": "GET", "url": "Encounter?patient=19&_sort:desc=date&_count=1"}},
        {"request": {"method": "GET", "url": "MedicationOrder?patient=19"}},
        {"request": {"method": "GET", "url": "Condition?patient=19&clinicalstatus=active"}}]}
    translated = translate_batch(bundle, "DSTU2", parameter_exists=exists)
    assert [e["request"]["url"] for e in translated["entry"]] == [
        "Patient/19", "Encounter?patient=19&_count=1&_sort=-date", "MedicationRequest?patient=19",
        "Condition?patient=19&clinical-status=active"]
    assert bundle["entry"][2]["request"]["url"] == "MedicationOrder?patient=19"  # the input is left as it was


def test_writes_in_a_batch_are_not_translated() -> None:
    bundle = {"resourceType": "Bundle", "type": "batch",
              "entry": [{"request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient"}}]}
    with pytest.raises(UntranslatableRequest, match="entry 1"):
        translate_batch(bundle, "STU3", parameter_exists=exists)


def test_a_bad_form_body_is_refused() -> None:
    with pytest.raises(UntranslatableRequest):
        translate_form(b"\xff\xfe", "Patient", "DSTU2", parameter_exists=exists)
    assert translate_url("Patient/1", "STU3", parameter_exists=exists) == "Patient/1"
