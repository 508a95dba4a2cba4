"""fhir_metadata_fn's handler: documents, headers, 404/405, Host header ignored, no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway.fhir.discovery import respond
from gateway.http import Headers, Request
from tests.fixtures.common import make_settings


def get(document: str, detail: str = "", *, method: str = "GET", host: str = "localhost:7071",
        base: str = "") -> Request:
    path = "/".join(part for part in (base, document, detail) if part)
    return Request(method=method, url=f"http://{host}/fhir/{path}", headers=Headers({"Host": host}),
                   route_params={"path": path})


@pytest.mark.parametrize("version,media,resource_type", [
    ("DSTU2", "application/json+fhir", "Conformance"),
    ("STU3", "application/fhir+json", "CapabilityStatement"),
    ("R4", "application/fhir+json", "CapabilityStatement"),
])
def test_metadata_per_version(version, media, resource_type):
    response = respond(get("metadata"), make_settings(FHIR_VERSION=version))
    assert response.status == 200
    assert response.content_type.startswith(media)
    assert json.loads(response.body)["resourceType"] == resource_type
    assert response.headers["Cache-Control"].startswith("public, max-age=")


@pytest.mark.parametrize("default", ["DSTU2", "STU3", "R4"])
@pytest.mark.parametrize("base,media,resource_type,number", [
    ("DSTU2", "application/json+fhir", "Conformance", "1.0.2"),
    ("STU3", "application/fhir+json", "CapabilityStatement", "3.0.1"),
    ("R4", "application/fhir+json", "CapabilityStatement", "4.0.1"),
])
def test_each_version_base_has_its_own_metadata_whatever_the_default(default, base, media, resource_type, number):
    settings = make_settings(FHIR_VERSION=default, PUBLIC_BASE_URL="https://gw.example")
    response = respond(get("metadata", base=base), settings)
    document = json.loads(response.body)
    assert response.status == 200 and response.content_type.startswith(media)
    assert (document["resourceType"], document["fhirVersion"]) == (resource_type, number)
    assert document["implementation"]["url"] == f"https://gw.example/fhir/{base}"
    token = [e for e in document["rest"][0]["security"]["extension"] if "extension" in e][0]["extension"][0]
    assert token == {"url": "token", "valueUri": "https://gw.example/oauth2/token"}  # one token URL for all


@pytest.mark.parametrize("base", ["", "DSTU2", "STU3", "R4"])
def test_every_base_has_the_same_smart_configuration(base):
    settings = make_settings(PUBLIC_BASE_URL="https://gw.example")
    response = respond(get(".well-known", "smart-configuration", base=base), settings)
    assert response.status == 200
    assert response.body == respond(get(".well-known", "smart-configuration"), settings).body


@pytest.mark.parametrize("path", ["stu3/metadata", "R5/metadata", "STU3/metadata/x", "STU3", "STU3/.well-known"])
def test_a_base_the_gateway_does_not_have_is_404(path):
    request = Request(method="GET", url=f"http://localhost:7071/fhir/{path}", route_params={"path": path})
    response = respond(request, make_settings())
    assert response.status == 404 and json.loads(response.body)["resourceType"] == "OperationOutcome"


def test_a_404_on_a_version_base_is_of_that_version():
    response = respond(get("metadata", "x", base="DSTU2"), make_settings(FHIR_VERSION="R4"))
    assert response.status == 404 and response.content_type.startswith("application/json+fhir")


def test_smart_configuration():
    response = respond(get(".well-known", "smart-configuration"), make_settings(PUBLIC_BASE_URL="https://gw.example"))
    document = json.loads(response.body)
    assert response.status == 200 and response.content_type.startswith("application/json")
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert document["issuer"] == "https://gw.example"
    assert document["token_endpoint"] == "https://gw.example/oauth2/token"
    assert document["jwks_uri"] == "https://gw.example/oauth2/jwks"
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post",
                                                                 "private_key_jwt"]
    assert document["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert document["capabilities"] == ["client-confidential-symmetric", "client-confidential-asymmetric",
                                        "permission-v1", "permission-v2"]
    assert "system/*.rs" in document["scopes_supported"]


def test_advertised_urls_never_come_from_the_host_header():
    response = respond(get("metadata", host="evil.example"), make_settings(PUBLIC_BASE_URL="https://gw.example"))
    assert b"evil.example" not in response.body
    smart = respond(get(".well-known", "smart-configuration", host="evil.example"), make_settings())
    assert b"evil.example" not in smart.body


def test_head_has_headers_and_no_body():
    response = respond(get("metadata", method="HEAD"), make_settings())
    assert response.status == 200 and response.body == b"" and response.headers["Cache-Control"]


@pytest.mark.parametrize("document,detail", [("metadata", "extra"), (".well-known", "openid-configuration"),
                                             (".well-known", ""), ("other", "")])
def test_other_documents_are_404_operation_outcome(document, detail):
    response = respond(get(document, detail), make_settings())
    assert response.status == 404
    outcome = json.loads(response.body)
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "not-found"


def test_post_is_405_with_allow():
    response = respond(get("metadata", method="POST"), make_settings())
    assert response.status == 405 and "GET" in response.headers["Allow"]
    assert json.loads(response.body)["resourceType"] == "OperationOutcome"


def test_discovery_imports_no_azure_sdk_and_no_fhir_resources():
    code = ("import sys, gateway.fhir.discovery; "
            "bad = [m for m in sys.modules if m.startswith(('azure.core', 'azure.data', 'azure.keyvault', "
            "'azure.identity', 'fhir.resources', 'jwt', 'cryptography'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
