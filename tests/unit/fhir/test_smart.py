"""SMART configuration (SMART App Launch 2.0 conformance): only what the token service really supports."""

from __future__ import annotations

from gateway.fhir.smart import smart_configuration
from gateway.oauth.client_auth import AUTH_METHODS
from tests.fixtures.common import make_settings


def test_advertises_exactly_the_registered_auth_methods_and_grant():
    document = smart_configuration(make_settings(PUBLIC_BASE_URL="https://gw.example.org"))
    assert document["token_endpoint_auth_methods_supported"] == list(AUTH_METHODS)
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["capabilities"] == ["client-confidential-symmetric"]
    assert "authorization_endpoint" not in document


def test_urls_follow_public_base_url():
    document = smart_configuration(make_settings(PUBLIC_BASE_URL="https://gw.example.org/"))
    assert document["issuer"] == "https://gw.example.org"
    assert document["token_endpoint"] == "https://gw.example.org/oauth2/token"
    assert document["jwks_uri"] == "https://gw.example.org/oauth2/jwks"
