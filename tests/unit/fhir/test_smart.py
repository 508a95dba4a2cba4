"""SMART configuration (SMART App Launch 2.0 conformance): only what the token service really supports."""

from __future__ import annotations

from gateway.fhir.smart import smart_configuration
from gateway.oauth.client_auth import METHODS
from tests.fixtures.common import make_settings


def test_advertises_exactly_the_registered_auth_methods_and_grant():
    document = smart_configuration(make_settings(PUBLIC_BASE_URL="https://gw.example.org"))
    assert document["token_endpoint_auth_methods_supported"] == sorted(METHODS)  # every registered method
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["capabilities"] == ["client-confidential-symmetric", "client-confidential-asymmetric",
                                        "permission-v1", "permission-v2"]
    assert "authorization_endpoint" not in document


def test_assertion_algorithms_follow_the_sha256_setting_and_never_include_none_or_hmac():
    default = smart_configuration(make_settings())["token_endpoint_auth_signing_alg_values_supported"]
    wider = smart_configuration(make_settings(CLIENT_ASSERTION_ALLOW_SHA256="true"))
    assert default == ["RS384", "ES384"]
    assert wider["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384", "RS256", "ES256"]


def test_every_advertised_scope_is_one_the_token_endpoint_accepts():
    from gateway.scopes import parse_scope_token

    document = smart_configuration(make_settings())
    assert document["scopes_supported"] and "system/*.rs" in document["scopes_supported"]
    for scope in document["scopes_supported"]:
        parse_scope_token(scope)  # raises for anything the grant would refuse as invalid_scope


def test_urls_follow_public_base_url():
    document = smart_configuration(make_settings(PUBLIC_BASE_URL="https://gw.example.org/"))
    assert document["issuer"] == "https://gw.example.org"
    assert document["token_endpoint"] == "https://gw.example.org/oauth2/token"
    assert document["jwks_uri"] == "https://gw.example.org/oauth2/jwks"
