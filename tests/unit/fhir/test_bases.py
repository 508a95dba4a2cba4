"""The gateway's FHIR bases: ``/fhir`` for the default version, one per version below it."""

from __future__ import annotations

from gateway.fhir.bases import bases, default_base, split_base
from gateway.fhir.versions import DSTU2, R4, STU3
from tests.fixtures.common import make_settings


def test_one_base_per_version_and_the_default_one() -> None:
    settings = make_settings(FHIR_VERSION="R4", PUBLIC_BASE_URL="https://gw.example")
    found = bases(settings)
    assert {segment: (base.version, base.url) for segment, base in found.items()} == {
        "": (R4, "https://gw.example/fhir"), "DSTU2": (DSTU2, "https://gw.example/fhir/DSTU2"),
        "STU3": (STU3, "https://gw.example/fhir/STU3"), "R4": (R4, "https://gw.example/fhir/R4")}
    assert default_base(settings) is found[""]


def test_a_path_names_its_base_by_its_first_segment_exactly() -> None:
    settings = make_settings()
    known = bases(settings)
    assert split_base("STU3/Patient/1", known) == (known["STU3"], "Patient/1")
    assert split_base("DSTU2", known) == (known["DSTU2"], "")
    assert split_base("R4/", known) == (known["R4"], "")
    for path in ("Patient/1", "", "stu3/Patient", "R5/Patient", "STU3x/Patient"):
        assert split_base(path, known) == (default_base(settings), path)
