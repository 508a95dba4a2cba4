"""Conversion's fast path: a value ``Unchanged`` lets through is exactly what the full conversion would make of it,
in all four directions, for datatype values with what changes between versions mixed in (extensions of R4-only
types, ``_`` siblings, elements one version lacks, renamed medication orders, DSTU2 names and contact systems)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.convert.datatypes import COMPLEX, PRIMITIVES, Converter, converter

DIRECTIONS = [("R4", "STU3"), ("R4", "DSTU2"), ("STU3", "R4"), ("DSTU2", "R4")]
KINDS = sorted({*COMPLEX, "Age", "Duration", "Money", "Extension"})

words = st.sampled_from(["a", "usual", "old", "url", "sms", "phone", "MedicationRequest/1", "MedicationOrder/2",
                         "Medication/3", "Patient/4", "http://x.org/y"])
primitive = st.one_of(words, st.integers(0, 9), st.booleans())
EXTENSION_VALUES = ["valueString", "valueCode", "valueBoolean", "valueCanonical", "valueUrl", "valueUuid",
                    "valueCoding", "valueCodeableConcept", "valueReference", "valueQuantity", "valueAge", "valueMoney",
                    "valueIdentifier", "valueExpression", "valueDosage", "valuePeriod", "valueMeta"]


def value_of(kind: str, depth: int) -> st.SearchStrategy[Any]:
    if kind in PRIMITIVES or depth > 3:
        return primitive
    if kind == "Extension":
        return extension(depth)
    row = COMPLEX.get("Quantity" if kind in ("Age", "Duration") else kind, {"value": ("decimal", frozenset()),
                                                                            "currency": ("code", frozenset())})
    return complex_value(row, depth)


def extension(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {"url": "http://x.org/e"}
        key = draw(st.sampled_from(EXTENSION_VALUES))
        kind = key.removeprefix("value")
        kind = kind[0].lower() + kind[1:] if kind[0].lower() + kind[1:] in PRIMITIVES else kind
        out[key] = draw(value_of(kind, depth + 1))
        if draw(st.integers(0, 5)) == 0:
            out["_" + key] = {"extension": [{"url": "http://x.org/p", "valueString": "p"}]}
        if depth < 2 and draw(st.integers(0, 4)) == 0:
            out["extension"] = draw(st.lists(extension(depth + 1), max_size=2))
        return out
    return st.composite(build)()


def complex_value(row: Any, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in draw(st.lists(st.sampled_from(sorted(row)), unique=True, max_size=4)):
            kind = row[name][0]
            item = value_of(kind, depth + 1)
            out[name] = draw(st.lists(item, max_size=2) if draw(st.integers(0, 3)) == 0 else item)
            if kind in PRIMITIVES and draw(st.integers(0, 6)) == 0:
                out["_" + name] = draw(st.sampled_from([{"id": "i"}, {}, None, {"extension": []}]))
        extra = draw(st.integers(0, 9))
        if extra == 0:
            out["extension"] = draw(st.lists(extension(depth + 1), max_size=2))
        elif extra == 1:
            out["unknown"] = 1
        elif extra == 2:
            out["id"] = "e1"
        return out
    return st.composite(build)()


values = st.sampled_from(KINDS).flatmap(lambda kind: st.tuples(st.just(kind), value_of(kind, 0)))


@settings(max_examples=300, deadline=None)
@given(kind_and_value=values, direction=st.sampled_from(DIRECTIONS))
def test_what_the_fast_path_shares_is_what_the_full_conversion_makes(kind_and_value: tuple[str, Any],
                                                                      direction: tuple[str, str]) -> None:
    kind, value = kind_and_value
    conv = converter(*direction)
    check = conv.unchanged.check(kind)
    before = copy.deepcopy(value)
    if check is not None and check(value):
        assert conv.convert_in_full(kind, value) == value
    assert conv.value(kind, value) == conv.convert_in_full(kind, value)
    assert value == before


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_the_common_shapes_take_the_fast_path(direction: tuple[str, str]) -> None:
    """What most of a resource is made of is shared, not rebuilt (else the fast path silently stopped working)."""
    conv: Converter = converter(*direction)
    coding = {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}
    shared = {
        "CodeableConcept": {"coding": [coding], "text": "Heart rate"},
        "Quantity": {"value": 72, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"},
        "Reference": {"reference": "Patient/1", "display": "Ruth Black"},
        "Period": {"start": "2020-01-01T10:00:00+00:00"},
        "Identifier": {"use": "usual", "system": "http://hospital.example.org/mrn", "value": "1234567",
                       "type": {"coding": [coding]}},
        "Extension": {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                      "extension": [{"url": "ombCategory", "valueCoding": coding},
                                    {"url": "text", "valueString": "x"}]},
    }
    for kind, value in shared.items():
        assert conv.value(kind, value) is value, kind
    codings = [coding, dict(coding)]
    assert conv.value("Coding", codings) is codings


def test_what_changes_is_not_shared() -> None:
    assert converter("R4", "DSTU2").value("Reference", {"reference": "MedicationRequest/1"}) == {
        "reference": "MedicationOrder/1"}
    assert converter("R4", "STU3").value("Reference", {"reference": "Patient/1", "type": "Patient"}) == {
        "reference": "Patient/1"}
    canonical = {"url": "http://x.org/e", "valueCanonical": "http://x.org/c"}
    assert converter("R4", "STU3").value("Extension", canonical) == {"url": "http://x.org/e",
                                                                     "valueUri": "http://x.org/c"}
    assert converter("R4", "DSTU2").value("HumanName", {"family": "Black"}) == {"family": ["Black"]}
