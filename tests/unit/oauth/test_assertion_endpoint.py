"""The token endpoint with private_key_jwt client assertions (RFC 7523 §2.2, SMART Backend Services), in process:
memory stores, fake clock, inline JWKS. Refusals of forged assertions are in tests/security/test_client_assertions.py.
"""

from __future__ import annotations

import json

import jwt
import pytest

from gateway.oauth.rate_limit import client_key, shared_key
from gateway.services import Services
from tests.support.constants import OTHER_TENANT, TENANT
from tests.support.oauth import assertion_form, post_form, token_request
from tests.support.surfaces import respond
from tests.unit.oauth.helpers import add_client, add_key_client, add_route
from tests.unit.oauth.keys import CLIENT_ID, claims, ec_key, public_jwk, rsa_key, sign


def body(response) -> dict:
    return json.loads(response.body)


@pytest.fixture
async def key_client(services: Services):
    await add_route(services)
    return await add_key_client(services, CLIENT_ID, jwks={"keys": [public_jwk(rsa_key(), "rsa-1"),
                                                                    public_jwk(ec_key(), "ec-1")]},
                                allowed_scopes="system/Patient.rs system/Observation.rs")


def assertion(services: Services, key=None, kid: str = "rsa-1", algorithm: str = "RS384", **changes) -> str:
    return sign(key or rsa_key(), kid, claims(services.clock.now().timestamp(), **changes), algorithm)


@pytest.mark.parametrize("kid,algorithm", [("rsa-1", "RS384"), ("ec-1", "ES384")])
async def test_a_signed_assertion_gets_a_token_with_the_clients_allowed_scopes(services, key_client, kid, algorithm):
    key = rsa_key() if algorithm == "RS384" else ec_key()
    response = await respond(token_request(assertion_form(assertion(services, key, kid, algorithm))), services)
    payload = body(response)
    assert response.status == 200, payload
    assert payload["scope"] == TENANT  # the tenant alone was asked: the token carries the tenant alone
    claims_ = await services.token_verifier.verify(payload["access_token"])
    assert claims_.client_id == CLIENT_ID and claims_.tenant_id == TENANT and claims_.smart_scopes is None


async def test_asked_scopes_are_intersected_with_the_allowed_ones_and_listed(services, key_client):
    scope = f"{TENANT} system/Patient.read system/Observation.rs"
    response = await respond(token_request(assertion_form(assertion(services), scope=scope)), services)
    payload = body(response)
    assert response.status == 200 and payload["scope"] == f"{TENANT} system/Observation.rs system/Patient.rs"
    decoded = jwt.decode(payload["access_token"], options={"verify_signature": False})
    assert decoded["scope"] == payload["scope"] and decoded["tid"] == TENANT
    verified = await services.token_verifier.verify(payload["access_token"])
    assert str(verified.smart_scopes) == "system/Observation.rs system/Patient.rs"


@pytest.mark.parametrize("scope", [f"{TENANT} system/Encounter.rs", f"{TENANT} system/Patient.c", OTHER_TENANT,
                                   f"{TENANT} openid"])
async def test_scopes_or_tenants_the_client_may_not_have_are_invalid_scope(services, key_client, scope):
    response = await respond(token_request(assertion_form(assertion(services), scope=scope)), services)
    assert response.status == 400 and body(response)["error"] == "invalid_scope"


async def test_client_id_in_the_body_must_name_the_assertions_issuer(services, key_client):
    same = await respond(token_request(assertion_form(assertion(services), client_id=CLIENT_ID)), services)
    other = await respond(token_request(assertion_form(assertion(services), client_id="someone-else")), services)
    assert same.status == 200
    assert other.status == 401 and body(other)["error"] == "invalid_client"


async def test_an_assertion_with_a_secret_or_basic_header_is_invalid_request(services, key_client):
    with_secret = assertion_form(assertion(services), client_secret="x" * 20)
    response = await respond(token_request(with_secret), services)
    assert response.status == 400 and body(response)["error"] == "invalid_request"
    response = await respond(token_request(assertion_form(assertion(services)),
                                           headers={"Authorization": "Basic eDp5"}), services)
    assert response.status == 400 and body(response)["error"] == "invalid_request"


async def test_a_secret_client_cannot_authenticate_with_an_assertion(services):
    await add_route(services)
    await add_client(services, CLIENT_ID)
    response = await respond(token_request(assertion_form(assertion(services))), services)
    payload = body(response)
    assert response.status == 401 and payload["error"] == "invalid_client"
    assert payload["error_description"] == "client authentication failed"


async def test_a_private_key_jwt_client_has_no_secret_to_present(services, key_client):
    response = await respond(token_request(post_form(CLIENT_ID, "0123456789abcdef.bm90LWEtc2VjcmV0")), services)
    assert response.status == 401 and body(response)["error"] == "invalid_client"


async def test_a_disabled_client_is_refused_after_verification(services):
    await add_route(services)
    await add_key_client(services, CLIENT_ID, jwks={"keys": [public_jwk(rsa_key(), "rsa-1")]}, enabled=False)
    response = await respond(token_request(assertion_form(assertion(services))), services)
    assert response.status == 401 and body(response)["error"] == "invalid_client"


async def test_unknown_client_and_bad_signature_read_the_same(services, key_client):
    unknown = await respond(token_request(assertion_form(assertion(services, iss="nobody", sub="nobody"))), services)
    forged = await respond(token_request(assertion_form(assertion(services, rsa_key("other")))), services)
    assert unknown.status == forged.status == 401
    assert body(unknown) == body(forged) == {"error": "invalid_client",
                                             "error_description": "client authentication failed"}


async def test_details_are_told_only_once_the_signature_verified(services, key_client):
    wrong_audience = assertion(services, aud="https://elsewhere.example/token")
    response = await respond(token_request(assertion_form(wrong_audience)), services)
    assert body(response)["error_description"] == ("the client assertion's aud must be the token endpoint URL "
                                                      "or the issuer identifier")


async def test_replay_store_outage_is_503_and_not_held_against_the_client(services, key_client):
    services.replay.available = False
    response = await respond(token_request(assertion_form(assertion(services))), services)
    assert response.status == 503 and response.headers["Retry-After"]
    services.replay.available = True
    for _ in range(services.settings.auth_failure_limit + 1):
        assert (await respond(token_request(assertion_form(assertion(services))), services)).status == 200


async def test_assertion_failures_count_toward_the_failure_limit(services, key_client):
    limit = services.settings.auth_failure_limit
    forged = [assertion(services, rsa_key("other")) for _ in range(limit)]
    statuses = [(await respond(token_request(assertion_form(a)), services)).status for a in forged]
    assert statuses == [401] * limit
    locked = await respond(token_request(assertion_form(assertion(services))), services)
    assert locked.status == 429 and locked.headers["Retry-After"]
    row = services.failure_counters.row(shared_key("a", "203.0.113.7"), now=services.clock.now(),
                                        window_seconds=services.settings.auth_failure_window_seconds)
    assert row[client_key(CLIENT_ID)] == limit  # counted in the store every instance shares


async def test_unreadable_assertions_count_toward_the_failure_limit(services, key_client):
    for _ in range(services.settings.auth_failure_limit):
        assert (await respond(token_request(assertion_form("not.a.jwt")), services)).status == 401
    response = await respond(token_request(assertion_form("not.a.jwt")), services)
    assert response.status == 429 and response.headers["Retry-After"]


async def test_an_unknown_client_never_causes_a_jwks_fetch(services):
    await add_route(services)
    await add_key_client(services, "url-client", jwks_url="http://127.0.0.1:9/jwks.json")
    fetcher = services.assertion_authenticator.fetcher
    response = await respond(token_request(assertion_form(assertion(services, iss="nobody", sub="nobody"))),
                             services)
    assert response.status == 401 and fetcher.fetches == 0
