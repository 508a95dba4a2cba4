"""A provider's malformed JSON (a list where a code goes, a number where a CodeableConcept goes...) never breaks
conversion with anything but a typed ConversionError whose message names no value; a Bundle leaves such an entry
out and says so; the input is never changed."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.convert import ConversionError, MalformedResource, convert, to_client

EXAMPLES = [json.loads(path.read_text()) for path in
            sorted((Path(__file__).parents[2] / "fixtures" / "r4_examples" / "us_core").glob("*.json"))]
JUNK: list[Any] = [None, 7, "x-secret", [], {}, [7], ["x-secret"], [{}], {"x-secret": 7}, True, [None]]


def spoil(node: Any, rng: random.Random) -> None:
    """Replace about one value in ten, anywhere in ``node``, by junk of another shape."""
    keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
    for key in keys:
        if key == "resourceType":
            continue
        if rng.random() < 0.1:
            node[key] = copy.deepcopy(rng.choice(JUNK))
        else:
            spoil(node[key], rng)


@settings(max_examples=300, deadline=None)
@given(example=st.sampled_from(EXAMPLES), rng=st.randoms(use_true_random=False),
       version=st.sampled_from(["STU3", "DSTU2"]))
def test_malformed_r4_converts_or_raises_a_conversion_error_naming_no_value(
        example: dict[str, Any], rng: random.Random, version: str) -> None:
    spoiled = copy.deepcopy(example)
    spoil(spoiled, rng)
    before = copy.deepcopy(spoiled)
    try:
        older = to_client(spoiled, version)
        convert(older, version, "R4")
    except ConversionError as exc:
        assert "x-secret" not in str(exc) and "7" not in str(exc).replace("FHIR", "")
    assert spoiled == before


def test_a_malformed_resource_is_a_502_naming_its_type_only() -> None:
    condition = next(e for e in EXAMPLES if e["resourceType"] == "Condition")
    spoiled = {**condition, "clinicalStatus": {"coding": [{"system": ["x-secret"]}]}}
    with pytest.raises(MalformedResource) as raised:
        to_client(spoiled, "DSTU2")
    assert raised.value.status == 502 and "Condition" in str(raised.value) and "x-secret" not in str(raised.value)


def test_a_bundle_leaves_a_malformed_entry_out_and_says_so() -> None:
    condition = next(e for e in EXAMPLES if e["resourceType"] == "Condition")
    patient = next(e for e in EXAMPLES if e["resourceType"] == "Patient")
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": patient}, {"resource": {**condition, "clinicalStatus": {"coding": [{"system": ["x-secret"]}]}}}]}
    converted = to_client(bundle, "DSTU2")
    assert [e["resource"]["resourceType"] for e in converted["entry"]] == ["Patient", "OperationOutcome"]
    assert "Condition" in converted["entry"][1]["resource"]["issue"][0]["diagnostics"]
