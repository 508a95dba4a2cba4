"""Prebuilt resources: meta, ETag inputs, indexes, date ranges and normalization."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from devtools.demo_provider.catalog import catalog_for, date_range, normalize


def ts(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


def test_bodies_are_json_with_version_meta():
    entry = catalog_for("R4").by_id[("Patient", "demo-patient-1")]
    resource = json.loads(entry.body)
    assert resource["resourceType"] == "Patient" and resource["id"] == "demo-patient-1"
    assert resource["meta"]["versionId"] == "1"


def test_entries_are_indexed_by_patient():
    catalog = catalog_for("STU3")
    observations = catalog.by_patient[("Observation", "demo-patient-1")]
    assert observations and all(json.loads(e.body)["subject"]["reference"] == "Patient/demo-patient-1"
                                for e in observations)
    coverage = catalog.by_patient[("Coverage", "demo-patient-1")]
    assert len(coverage) == 1


@pytest.mark.parametrize(("value", "expected"), [
    ("1957", (ts(1957, 1, 1), ts(1958, 1, 1))),
    ("1957-12", (ts(1957, 12, 1), ts(1958, 1, 1))),
    ("1957-06-05", (ts(1957, 6, 5), ts(1957, 6, 6))),
    ("2024-11-23T14:32:00+00:00", (ts(2024, 11, 23, 14, 32), ts(2024, 11, 23, 14, 32) + 1)),
    ("2024-11-23T15:32:00+01:00", (ts(2024, 11, 23, 14, 32), ts(2024, 11, 23, 14, 32) + 1)),
])
def test_date_range_follows_the_precision(value, expected):
    assert date_range(value) == expected


def test_normalize_ignores_case_and_accents():
    assert normalize("Müller") == normalize("MULLER") == "muller"


def test_unknown_version_is_refused():
    with pytest.raises(ValueError, match="DSTU2, STU3, R4"):
        catalog_for("R5")
