"""The search parameter tables (gateway.fhir.search_parameters): generated from HL7's definitions, never by hand,
and answering what the scope checks and the version conversion ask of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.search_parameters import generate
from gateway.fhir.search_parameters import (
    OPEN,
    SearchParameter,
    common_parameters,
    definition,
    resource_types,
)

TABLES = Path(generate.__file__).resolve().parents[2] / "gateway" / "fhir" / "search_parameters"


@pytest.mark.parametrize("version", ["DSTU2", "STU3", "R4"])
def test_each_committed_table_is_exactly_what_its_inputs_generate(version):
    """The inputs' digests are checked against sources.toml, then the table is generated again and compared."""
    assert generate.generate([version])[version] == (TABLES / f"{version.lower()}.json").read_text(encoding="utf-8")


def test_an_input_that_is_not_the_one_named_stops_the_generator(tmp_path, monkeypatch):
    original = generate.sources()
    changed = {**original, "DSTU2": {**original["DSTU2"], "sha256": "0" * 64}}
    monkeypatch.setattr(generate, "sources", lambda: changed)
    with pytest.raises(generate.InputMismatch):
        generate.generate(["DSTU2"])


@pytest.mark.parametrize(("version", "resource_type", "name", "targets"), [
    ("R4", "Observation", "patient", {"Patient"}),  # clinical-patient, narrowed by where(resolve() is Patient)
    ("R4", "Observation", "encounter", {"Encounter"}),  # clinical-encounter lists EpisodeOfCare for other bases
    ("R4", "Encounter", "location", {"Location"}),
    ("R4", "MedicationRequest", "medication", {"Medication"}),
    ("R4", "AllergyIntolerance", "patient", {"Patient"}),
    ("R4", "Observation", "subject", {"Device", "Group", "Location", "Patient"}),
    ("R4", "Patient", "general-practitioner", {"Organization", "Practitioner", "PractitionerRole"}),
    ("STU3", "MedicationRequest", "medication", {"Medication"}),
    ("STU3", "Observation", "patient", {"Group", "Patient"}),  # STU3 gives no narrower type for Observation.subject
    ("STU3", "Observation", "encounter", {"Encounter", "EpisodeOfCare"}),  # Observation.context
    ("DSTU2", "MedicationOrder", "medication", {"Medication"}),
    ("DSTU2", "Encounter", "location", {"Location"}),
    ("DSTU2", "Observation", "patient", {"Device", "Group", "Location", "Patient"}),  # as DSTU2 defines it
])
def test_reference_parameters_name_the_types_they_reach_from_their_base(version, resource_type, name, targets):
    found = definition(version, resource_type, name)
    assert found == SearchParameter(name, "reference", frozenset(targets))
    assert not found.is_open


def test_every_type_has_the_common_parameters_and_versions_differ():
    assert definition("R4", "Observation", "_id") == SearchParameter("_id", "token")
    assert definition("R4", "Patient", "_lastUpdated") == SearchParameter("_lastUpdated", "date")
    assert definition("DSTU2", "Patient", "_text") == SearchParameter("_text", "string")
    assert "_source" in common_parameters("R4") and "_source" not in common_parameters("STU3")
    assert definition("R4", "MedicationOrder", "medication") is None  # DSTU2 only
    assert definition("DSTU2", "MedicationRequest", "medication") is None  # from STU3 on
    assert "MedicationOrder" in resource_types("DSTU2") and "MedicationOrder" not in resource_types("R4")


def test_names_are_exact_codes():
    assert definition("R4", "Observation", "Patient") is None
    assert definition("R4", "Observation", "patient:Patient") is None
    assert definition("R4", "observation", "patient") is None
    assert definition("R4", "Nothing", "_id") is None
    assert definition("R4", "Observation", "_count") is None  # a result parameter, not a SearchParameter


def test_non_reference_parameters_have_no_targets_and_open_references_say_so():
    assert definition("R4", "Patient", "birthdate") == SearchParameter("birthdate", "date")
    assert definition("STU3", "Linkage", "item") == SearchParameter("item", "reference", OPEN)
    assert definition("STU3", "Linkage", "item").is_open


def test_an_unknown_version_is_a_programming_error():
    with pytest.raises(ValueError):
        definition("R5", "Patient", "name")


def test_no_table_is_read_until_a_lookup_needs_it():
    """Cold starts pay for the tables only when a search needs them (importing the proxy reads none)."""
    import subprocess
    import sys

    code = ("import gateway.proxy.forward, gateway.fhir.search_parameters as t; "
            "before = t._table.cache_info().currsize; "
            "t.definition('R4', 'Patient', 'name'); print(before, t._table.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], cwd=TABLES.parents[2], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["0", "1"]
