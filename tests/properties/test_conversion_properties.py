"""Round trips over generated R4 resources of the bridged set: R4 -> STU3 -> R4 and R4 -> DSTU2 -> R4 keep every
field the reference client reads (patients-app-interface.md §2.2, §3.2), and each step is strictly valid."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devtools.demo_provider import data as d
from devtools.demo_provider import render
from gateway.convert import convert, to_client
from tests.properties.support import examples
from tests.support.client_fields import view
from tests.support.validators import Dstu2Validator, validate_r4, validate_stu3

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12).map(
    str.strip).filter(bool)
ids = st.from_regex(r"[A-Za-z0-9\-.]{1,20}", fullmatch=True)
codes = st.builds(d.Code, st.sampled_from([d.SNOMED, d.LOINC, d.RXNORM]), st.from_regex(r"[0-9]{3,9}", fullmatch=True),
                  text)
days = st.dates(date(1920, 1, 1), date(2030, 12, 31))
moments = st.datetimes(datetime(1990, 1, 1), datetime(2030, 1, 1)).map(lambda m: m.replace(microsecond=0,
                                                                                          tzinfo=UTC))
# What the R4 base shapes by name or code (a Practitioner, a payer, a vital sign or lab, a drug's dosage), or anything.
practitioners = st.sampled_from(d.PRACTITIONERS) | text
payors = st.sampled_from([name for name, _plan in d.PAYORS]) | text
observation_codes = st.sampled_from([v[0] for v in (*d.VITALS, *d.LABS)] + [d.BLOOD_PRESSURE]) | codes
drugs = st.sampled_from([code for code, _dosage in d.MEDICATIONS]) | codes
numbers = st.integers(0, 400) | st.decimals(0, 400, places=1, allow_nan=False).map(float)

patients = st.builds(d.PatientRecord, ids, st.from_regex(r"[0-9]{5,9}", fullmatch=True), text,
                     st.lists(text, min_size=1, max_size=3).map(tuple), text, st.sampled_from(["male", "female"]),
                     days, practitioners, text, text).map(lambda p: render.patient("R4", p))
observations = st.builds(
    d.ObservationRecord, ids, ids, st.none() | ids, st.sampled_from(["vital-signs", "laboratory"]), observation_codes,
    moments,
    st.none() | numbers, text, text,
    st.lists(st.builds(d.Component, codes, numbers, text, text), max_size=2).map(tuple),
).map(lambda o: render.observation("R4", o))
conditions = st.builds(d.ConditionRecord, ids, ids, codes, codes, days, days, st.booleans()).map(
    lambda c: render.condition("R4", c))
allergies = st.builds(d.AllergyRecord, ids, ids, codes, st.sampled_from(["food", "medication", "environment"]),
                      st.sampled_from(["low", "high"]), codes, st.sampled_from(["mild", "moderate", "severe"]),
                      moments, text).map(lambda a: render.allergy("R4", a))
medications = st.builds(d.MedicationRecord, ids, ids, drugs, text, days, st.none() | days,
                        practitioners, st.booleans()).map(lambda m: render.medication("R4", m))
coverages = st.builds(d.CoverageRecord, ids, ids, payors, text, text, text, days, days).map(
    lambda c: render.coverage("R4", c))
locations = {loc.id: loc for loc in d.LOCATIONS}
encounters = st.builds(d.EncounterRecord, ids, ids, st.sampled_from(["planned", "arrived", "in-progress", "finished",
                                                                     "cancelled"]), codes, moments,
                       st.none() | moments, st.sampled_from(sorted(locations)), practitioners).map(
    lambda e: render.encounter("R4", e, locations))


@st.composite
def with_r4_extras(draw: st.DrawFn, resources: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A resource with some of what only R4 has: ``meta.source``, ``Reference.type``, canonical extension values."""
    resource = draw(resources)
    if draw(st.booleans()):
        resource["meta"] = {"source": "#" + draw(ids), "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/x"]}
    if draw(st.booleans()):
        resource["extension"] = [{"url": "http://example.org/a", "valueCanonical": "http://example.org/c"},
                                 {"url": "http://example.org/b", "valueString": draw(text)}]
    for key in ("subject", "patient"):
        if isinstance(resource.get(key), dict) and draw(st.booleans()):
            resource[key]["type"] = "Patient"
    return resource


r4_resources = with_r4_extras(st.one_of(patients, observations, conditions, allergies, medications, coverages,
                                        encounters))


@pytest.fixture(scope="module")
def dstu2() -> Iterator[Dstu2Validator]:
    validator = Dstu2Validator()
    yield validator
    validator.close()


@examples(120)
@given(resource=r4_resources)
def test_r4_to_stu3_and_back_keeps_what_the_client_reads(resource: dict[str, Any]) -> None:
    stu3 = to_client(resource, "STU3")
    validate_stu3(stu3)
    assert view(stu3, "STU3") == view(resource, "R4")
    back = convert(stu3, "STU3", "R4")
    validate_r4(back)
    assert view(back, "R4") == view(resource, "R4")
    assert back["id"] == resource["id"]


@examples(120)
@given(resource=r4_resources)
def test_r4_to_dstu2_and_back_keeps_what_the_client_reads(resource: dict[str, Any], dstu2: Dstu2Validator) -> None:
    older = to_client(resource, "DSTU2")
    dstu2.check(older)
    assert view(older, "DSTU2") == view(resource, "R4")
    back = convert(older, "DSTU2", "R4")
    validate_r4(back)
    assert view(back, "R4") == view(resource, "R4")
    assert back["id"] == resource["id"]
