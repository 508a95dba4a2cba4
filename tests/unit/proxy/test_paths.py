"""FHIR REST path grammar: what may be forwarded and what is refused before any provider call."""

import pytest

from gateway.proxy.paths import PathRejected, check_path, resource_type_of


@pytest.mark.parametrize("path, resource_type", [
    ("", None),
    ("Patient", "Patient"),
    ("Patient/123", "Patient"),
    ("Patient/SMART-1288992", "Patient"),
    ("Patient/a.b-c", "Patient"),
    ("Patient/_search", "Patient"),
    ("_search", None),
    ("metadata", None),
    ("Patient/1/_history", "Patient"),
    ("Patient/1/_history/2", "Patient"),
    ("Patient/1/$everything", "Patient"),
    ("Patient/$match", "Patient"),
    ("Patient/1/Observation", "Patient"),
    ("$export", None),
])
def test_fhir_rest_paths_are_accepted(path, resource_type):
    checked = check_path(path)
    assert checked.path == path
    assert checked.resource_type == resource_type


@pytest.mark.parametrize("path", [
    "..", "Patient/..", "Patient/../Observation", "../admin", "Patient/.", "./Patient", "Patient/...",
    "Patient/%2e%2e", "Patient/%2E%2E/x", "%2e%2e/secret", "Patient/%252e%252e", "Patient%2f..%2fx",
    "Patient/1%2F..%2F..", "Patient/..%5c..",
    "Patient\\..\\x", "Patient\\1",
    "Patient//1", "/Patient", "Patient/", "//evil.example/x",
    "http://evil.example/fhir", "https:/evil", "Patient/1:2",
    "Patient/\x00", "Patient/1\r\nX-Injected: 1", "Patient/\t1", "Patient/\x7f",
    "patient/1", "Patient/1/2/3/4", "Patient/has space", "Patient/é",
    "Patient/" + "a" * 65,
])
def test_paths_that_could_leave_the_base_are_refused(path):
    with pytest.raises(PathRejected) as caught:
        check_path(path)
    assert "\n" not in str(caught.value)


def test_refusal_messages_say_what_is_wrong():
    with pytest.raises(PathRejected, match="percent-escape"):
        check_path("Patient/%2e%2e")
    with pytest.raises(PathRejected, match="dot segment"):
        check_path("Patient/..")
    with pytest.raises(PathRejected, match="backslash"):
        check_path("Patient\\x")
    with pytest.raises(PathRejected, match="empty segment"):
        check_path("Patient//1")
    with pytest.raises(PathRejected, match="absolute URL"):
        check_path("http://evil/x")
    with pytest.raises(PathRejected, match="control"):
        check_path("Patient/\n")


def test_search_and_base_are_recognised():
    assert check_path("Patient/_search").is_search
    assert check_path("_search").is_search
    assert not check_path("Patient").is_search
    assert check_path("").is_base


def test_resource_type_for_logs():
    assert resource_type_of("Observation/1") == "Observation"
    assert resource_type_of("_search") is None


TOO_LONG = "The request path is too long."
CONTROL = "The request path contains control characters."
BACKSLASH = "The request path contains a backslash."
PERCENT = "The request path contains a percent-escape; FHIR paths never need one."
ABSOLUTE = "The request path must be relative to the FHIR base, not an absolute URL."
DOT = "The request path contains a dot segment."
EMPTY = "The request path contains an empty segment."
GRAMMAR = "The request path is not a FHIR REST path."


@pytest.mark.parametrize("path, message", [
    ("Patient/" + "a" * 2041, TOO_LONG), ("Patient/" + "a" * 2040, GRAMMAR),  # 2049 and 2048 characters
    ("Patient/\x1f", CONTROL), ("Patient/\x00", CONTROL), ("Patient/\x7f", CONTROL),
    ("Patient/a b", GRAMMAR), ("Patient/\x80", GRAMMAR), ("Patient/~", GRAMMAR),
    ("Patient\\1", BACKSLASH), ("Patient/%41", PERCENT),
    ("http://evil.example/fhir", ABSOLUTE), ("Patient/1:2", ABSOLUTE), ("//evil.example/x", ABSOLUTE),
    ("urn:x", ABSOLUTE),
    (".", DOT), ("..", DOT), ("Patient/...", DOT), ("Patient/./1", DOT), ("./Patient", DOT),
    ("Patient//1", EMPTY), ("/Patient", EMPTY), ("Patient/", EMPTY), ("/", EMPTY),
    ("patient", GRAMMAR), ("Patient/1/2/3/4", GRAMMAR), ("Patient/1/_history/2/3", GRAMMAR),
])
def test_each_refusal_says_exactly_what_is_wrong(path, message):
    with pytest.raises(PathRejected) as caught:
        check_path(path)
    assert str(caught.value) == message


@pytest.mark.parametrize("path, resource_type", [
    ("Observation/1", "Observation"), ("/Observation/1", "Observation"), ("//Observation", "Observation"),
    ("Observation?code=1", "Observation"), ("Observation/1?x=a/b", "Observation"), ("Patient/1/Observation", "Patient"),
    ("Observation?code=1?2", "Observation"), ("observation/1", None), ("_search", None), ("", None),
    ("Observation/", "Observation"), ("A/B/C", "A"), ("XRay/1", "XRay"), ("/XRay", "XRay"),
])
def test_resource_type_for_logs_is_the_first_segment(path, resource_type):
    assert resource_type_of(path) == resource_type
