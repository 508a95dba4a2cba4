"""Content negotiation: FHIR JSON per version, plain JSON on request, 406 for anything else."""

from __future__ import annotations

import json

import pytest

from devtools.demo_provider.media import NotAcceptable, negotiate, outcome, status_line

STU3 = "application/fhir+json;charset=utf-8"
DSTU2 = "application/json+fhir;charset=utf-8"
JSON = "application/json;charset=utf-8"


@pytest.mark.parametrize(("version", "accept", "fmt", "expected"), [
    ("DSTU2", None, None, DSTU2),
    ("STU3", None, None, STU3),
    ("R4", "*/*", None, STU3),
    ("STU3", "application/json+fhir;charset=utf-8", None, STU3),  # what the Patients app sends to STU3 servers
    ("DSTU2", "application/fhir+json", None, DSTU2),
    ("STU3", "application/json", None, JSON),
    ("STU3", "application/json, application/fhir+json", None, STU3),
    ("STU3", "text/html,application/xhtml+xml,*/*;q=0.8", None, STU3),
    ("STU3", "application/fhir+xml", "json", STU3),
    ("DSTU2", None, "json", DSTU2),
    ("STU3", None, "application/json", JSON),
    ("STU3", None, "application/fhir json", STU3),  # '+' arrives as a space from an unencoded query string
])
def test_negotiated_content_type(version, accept, fmt, expected):
    assert negotiate(version, accept, fmt) == expected


@pytest.mark.parametrize(("accept", "fmt"), [
    ("application/fhir+xml", None), ("text/html", None), (None, "xml"), ("application/json", "text/turtle"),
    ("application/json;q=0, text/xml", None),
])
def test_anything_but_json_is_not_acceptable(accept, fmt):
    with pytest.raises(NotAcceptable):
        negotiate("STU3", accept, fmt)


def test_outcome_and_status_line():
    body = json.loads(outcome(404, "Patient resource not found"))
    assert body["issue"][0] == {"severity": "error", "code": "not-found", "diagnostics": "Patient resource not found"}
    assert status_line(404) == "404 Not Found"
