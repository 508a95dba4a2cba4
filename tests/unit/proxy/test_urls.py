"""Upstream URL building: the raw query reaches the provider verbatim."""

import pytest

from gateway.proxy.paths import PathRejected
from gateway.proxy.urls import captured_path, normalize_query, upstream_url

BASE = "https://provider.example/fhir/stu3"


@pytest.mark.parametrize("query", [
    "patient=1&_sort:desc=date&category=vital-signs",
    "name:contains=chau",
    "patient=1&_count=10&_count=5",
    "code=http%3A%2F%2Floinc.org%7C8867-4&date=ge2020-01-01&date=lt2021-01-01",
    "_sort=-date",
    "given=Ren%C3%A9e",
    "_has:Observation:patient:code=1234-5",
    "a=1&b=&c",
    "x=%2e%2e%2F",
])
def test_raw_query_is_kept_verbatim(query):
    assert upstream_url(BASE, "Observation", query) == f"{BASE}/Observation?{query}"


def test_base_and_path_are_joined_with_one_slash():
    assert upstream_url(BASE + "/", "Patient/1") == f"{BASE}/Patient/1"
    assert upstream_url(BASE, "") == BASE
    assert upstream_url(BASE, "", "x=1") == f"{BASE}?x=1"


def test_unencoded_spaces_and_non_ascii_are_percent_encoded_only():
    assert normalize_query("name=Renée Black&x=%20") == "name=Ren%C3%A9e%20Black&x=%20"


def test_control_characters_in_query_are_refused():
    with pytest.raises(PathRejected):
        normalize_query("a=1\r\nHost: evil")


def test_captured_path_prefers_the_undecoded_url():
    assert captured_path("http://localhost:7071/fhir/Patient/%2e%2e?x=1", "Patient/..") == ("Patient/%2e%2e", "x=1")
    assert captured_path("http://localhost:7071/fhir", "") == ("", "")
    assert captured_path("http://localhost:7071/fhir/", "") == ("", "")
    assert captured_path("http://localhost:7071/fhir//x", "x") == ("/x", "")
    assert captured_path("http://h/other/Patient/1?q", "Patient/1") == ("Patient/1", "q")
