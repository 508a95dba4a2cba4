"""FhirVersion values: names, numbers, media types, capability resource names."""

import pytest

from gateway.fhir import versions
from gateway.fhir.versions import DSTU2, R4, STU3, UnknownFhirVersion, from_name, from_number


def test_each_version_knows_its_wire_details() -> None:
    assert (DSTU2.number, DSTU2.media_type, DSTU2.capability_type, DSTU2.medication_order_type) == (
        "1.0.2", "application/json+fhir", "Conformance", "MedicationOrder")
    assert (STU3.number, STU3.media_type, STU3.capability_type) == ("3.0.1", "application/fhir+json",
                                                                    "CapabilityStatement")
    assert (R4.number, R4.media_type, R4.batch_response_type) == ("4.0.1", "application/fhir+json", "batch-response")
    assert str(R4) == "R4" and versions.ALL == (DSTU2, STU3, R4)


@pytest.mark.parametrize(("name", "version"), [("DSTU2", DSTU2), ("stu3", STU3), (" R4 ", R4)])
def test_from_name(name: str, version: versions.FhirVersion) -> None:
    assert from_name(name) is version


@pytest.mark.parametrize(("number", "version"), [("1.0.2", DSTU2), ("1.0.1", DSTU2), ("3.0.1", STU3), ("3.0.2", STU3),
                                                 ("4.0.0", R4), ("4.0.1", R4), ("4.0.1-cibuild", R4)])
def test_from_a_servers_metadata_number(number: str, version: versions.FhirVersion) -> None:
    assert from_number(number) is version


@pytest.mark.parametrize("text", ["R5", "", "4.3.0", "5.0.0", "4", "x.y.z", "1.4.0"])
def test_unknown_versions_are_refused_with_what_was_seen(text: str) -> None:
    with pytest.raises(UnknownFhirVersion):
        from_number(text)
    with pytest.raises(UnknownFhirVersion):
        from_name(text)
