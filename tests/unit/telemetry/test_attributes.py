"""What request telemetry may say: route templates, FHIR interactions and resource types, safe URLs."""

import pytest

from gateway.telemetry.attributes import (
    function_of,
    interaction,
    provider_path_template,
    resource_type,
    route_template,
    safe_url,
)


@pytest.mark.parametrize(("path", "function"), [
    ("/oauth2/token", "token"), ("/oauth2/jwks", "token"), ("/fhir/metadata", "metadata"),
    ("/fhir/.well-known/smart-configuration", "metadata"), ("/fhir/Patient/1", "proxy"), ("/fhir", "proxy"),
    ("/manage/clients", "admin"), ("/favicon.ico", "other"),
])
def test_function_of_a_public_path(path, function):
    assert function_of(path) == function


@pytest.mark.parametrize(("path", "template"), [
    ("/fhir/Patient/pat-8841927", "/fhir/Patient/{id}"),
    ("/fhir/Patient/123/_history/4", "/fhir/Patient/{id}/_history/{id}"),
    ("/fhir/Patient/123/$everything", "/fhir/Patient/{id}/$everything"),
    ("/fhir/Observation/_search", "/fhir/Observation/_search"),
    ("/fhir/Observation", "/fhir/Observation"),
    ("/fhir", "/fhir"),
    ("/fhir/metadata", "/fhir/metadata"),
    ("/fhir/John%20Smith/1", "/fhir/{id}/{id}"),  # not a resource type: a caller-chosen segment
    ("/fhir/patient/Smith", "/fhir/{id}/{id}"),
    ("/fhir/Chalmers/1", "/fhir/{id}/{id}"),  # type-shaped, but no FHIR resource type: maybe a name
    ("/manage/clients/6f1c2b4e-0d9a-4c3b-8e7f-2a1b3c4d5e6f/secrets/0123456789abcdef",
     "/manage/clients/{id}/secrets/{id}"),
    ("/manage/routes/72f988bf-86f1-41af-91ab-2d7cd011db47", "/manage/routes/{id}"),
    ("/oauth2/token", "/oauth2/token"),
    ("/elsewhere/secret-value", "/{id}"),
])
def test_route_templates_keep_no_caller_chosen_segment(path, template):
    assert route_template(path) == template


def test_a_query_string_never_reaches_the_template():
    assert route_template("/fhir/Patient?name=Chalmers&birthdate=1974-12-25") == "/fhir/Patient"


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("GET", "/fhir/Patient/1", "read"), ("HEAD", "/fhir/Patient/1", "read"),
    ("GET", "/fhir/Patient", "search"), ("POST", "/fhir/Patient/_search", "search"),
    ("GET", "/fhir/Patient/1/_history/2", "vread"), ("GET", "/fhir/Patient/1/_history", "history"),
    ("GET", "/fhir/Patient/_history", "history"), ("POST", "/fhir", "batch"), ("GET", "/fhir", "search"),
    ("POST", "/fhir/Patient", "create"), ("PUT", "/fhir/Patient/1", "update"),
    ("PATCH", "/fhir/Patient/1", "patch"), ("DELETE", "/fhir/Patient/1", "delete"),
    ("GET", "/fhir/Patient/1/$everything", "operation"), ("GET", "/fhir/metadata", "capabilities"),
    ("GET", "/fhir/.well-known/smart-configuration", "capabilities"),
])
def test_fhir_interactions(method, path, expected):
    assert interaction(method, path) == expected


@pytest.mark.parametrize(("path", "expected"), [
    ("/fhir/Patient/1", "Patient"), ("/fhir/Observation", "Observation"), ("/fhir", None),
    ("/fhir/metadata", None), ("/fhir/patient/1", None), ("/fhir/Smith,John/1", None),
    ("/fhir/" + "A" * 80, None), ("/fhir/Chalmers", None), ("/fhir/Conformance", "Conformance"),
])
def test_only_fhir_shaped_type_names_are_resource_types(path, expected):
    assert resource_type(path) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("https://user:pw@fhir.example.org/r4/Patient/123?name=Chalmers#x", "https://fhir.example.org/r4/Patient/{id}"),
    ("http://127.0.0.1:8080/stu3/Observation?patient=42", "http://127.0.0.1:8080/stu3/Observation"),
    ("https://login.example.org/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token",
     "https://login.example.org/{id}/oauth2/v2.0/token"),
    ("https://fhir.example.org/api/fhir/Patient/1/_history/3",
     "https://fhir.example.org/api/fhir/Patient/{id}/_history/{id}"),
    ("https://fhir.example.org/tenant-88412/Patient", "https://fhir.example.org/{id}/Patient"),
])
def test_safe_urls_keep_host_and_template_only(url, expected):
    assert safe_url(url) == expected


def test_provider_path_template_of_a_bare_base():
    assert provider_path_template("/") == "/"
    assert provider_path_template("/r4") == "/r4"


# -- version bases ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "template", "type_", "function"), [
    ("/fhir/R4/Patient/pat-1", "/fhir/R4/Patient/{id}", "Patient", "proxy"),
    ("/fhir/STU3/Observation/_search", "/fhir/STU3/Observation/_search", "Observation", "proxy"),
    ("/fhir/DSTU2/MedicationOrder", "/fhir/DSTU2/MedicationOrder", "MedicationOrder", "proxy"),
    ("/fhir/STU3/metadata", "/fhir/STU3/metadata", None, "metadata"),
    ("/fhir/R4/.well-known/smart-configuration", "/fhir/R4/.well-known/smart-configuration", None, "metadata"),
    ("/fhir/R4/Chalmersxyz/1", "/fhir/R4/{id}/{id}", None, "proxy"),  # caller text stays out behind a base too
    ("/fhir/stu3/Patient/1", "/fhir/{id}/{id}/{id}", None, "proxy"),  # not a base: the segment is case-sensitive
    ("/fhir/R4", "/fhir/R4", None, "proxy"),
])
def test_a_version_base_keeps_its_segment_and_the_type_behind_it(path, template, type_, function):
    assert route_template(path) == template
    assert resource_type(path) == type_
    assert function_of(path) == function


def test_the_version_bases_are_the_gateways():
    from gateway.fhir.versions import ALL
    from gateway.telemetry.attributes import VERSION_BASES

    assert {version.name for version in ALL} == VERSION_BASES


@pytest.mark.parametrize("version", ["DSTU2", "STU3", "R4"])
def test_every_type_of_a_served_version_is_a_resource_type(version):
    from gateway.fhir.search_parameters import resource_types
    from gateway.telemetry.resource_types import RESOURCE_TYPES

    assert resource_types(version) <= RESOURCE_TYPES
