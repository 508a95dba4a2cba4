"""metadata_fn's handler: documents, headers, 404/405, Host header ignored, no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway.fhir.discovery import respond
from gateway.http import Headers, Request
from tests.fixtures.common import make_settings


def get(document: str, detail: str = "", *, method: str = "GET", host: str = "localhost:7071") -> Request:
    route = {"document": document, **({"detail": detail} if detail else {})}
    path = f"/fhir/{document}" + (f"/{detail}" if detail else "")
    return Request(method=method, url=f"http://{host}{path}", headers=Headers({"Host": host}), route_params=route)


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
