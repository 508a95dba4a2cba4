"""Provider assertion keys: the publication schedule, the JWKS, the RFC 7523 assertion and its token request."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from urllib.parse import parse_qs

import jwt
import pytest

from gateway.outbound.transport import MockTransport, UpstreamResponse
from gateway.stores.models import Route, UpstreamAuth
from gateway.stores.provider_keys import ProviderKeyVersion
from gateway.tokens.provider_keys import (
    ASSERTION_LIFETIME_SECONDS,
    CLIENT_ASSERTION_TYPE,
    Timing,
    parse_admin_name,
    schedule,
)
from gateway.upstream.kind import UpstreamAuthError
from tests.support.constants import TENANT

TOKEN_URL = "http://127.0.0.1:9/auth/token"
TIMING = Timing(jwks_max_age=300, worker_cache=30)


def pkj_route(**auth) -> Route:
    fields = {"type": "privateKeyJwt", "token_url": TOKEN_URL, "client_id": "gw-client", "scope": "system/*.rs",
              "algorithm": "RS384", "key_name": "gateway", **auth}
    return Route(tenant_id=TENANT, fhir_base_url="http://127.0.0.1:9/r4", fhir_version="R4",
                 upstream_auth=UpstreamAuth(**fields))


def version(n: int, created, enabled=True) -> ProviderKeyVersion:
    return ProviderKeyVersion(name="k", version=f"v{n}", alg="ES384",
                              public_jwk={"kty": "EC", "crv": "P-384", "x": f"x{n}", "y": "y"},
                              created_on=created, enabled=enabled)


# --------------------------------------------------------------------------- schedule

def test_the_first_version_signs_at_once_and_a_rotation_only_after_the_activation_delay(clock):
    t0 = clock.now()
    versions = [version(1, t0), version(2, t0 + timedelta(hours=1))]
    assert TIMING.activation == 300 + 30 + 5
    at = lambda seconds: [s.status for s in schedule(versions, t0 + timedelta(seconds=seconds), TIMING)]  # noqa: E731
    assert at(0) == ["active", "pending"]
    assert at(3600) == ["active", "pending"]
    assert at(3600 + TIMING.activation - 1) == ["active", "pending"]
    assert at(3600 + TIMING.activation) == ["previous", "active"]


def test_a_superseded_version_stays_published_until_none_of_its_assertions_can_be_valid(clock):
    t0 = clock.now()
    states = schedule([version(1, t0), version(2, t0 + timedelta(hours=1))], t0 + timedelta(hours=2), TIMING)
    superseded_at = t0 + timedelta(hours=1, seconds=TIMING.activation)
    assert states[0].retires_at == superseded_at + timedelta(seconds=TIMING.retention)
    # An assertion signed just before the switch lives 240 s, providers allow 60 s skew: retention covers it.
    assert TIMING.retention >= 300 + 60 + TIMING.jwks_max_age
    just_before = schedule([version(1, t0), version(2, t0 + timedelta(hours=1))],
                           states[0].retires_at - timedelta(seconds=1), TIMING)
    assert [s.status for s in just_before] == ["previous", "active"]
    after = schedule([version(1, t0), version(2, t0 + timedelta(hours=1))], states[0].retires_at, TIMING)
    assert [s.status for s in after] == ["retired", "active"]


def test_a_disabled_version_is_neither_published_nor_signing(clock):
    t0 = clock.now()
    states = schedule([version(1, t0), version(2, t0 + timedelta(seconds=1), enabled=False)],
                      t0 + timedelta(days=1), TIMING)
    assert [(s.key.version, s.status) for s in states] == [("v1", "active")]


def test_two_quick_rotations_activate_in_order(clock):
    t0 = clock.now()
    versions = [version(1, t0), version(2, t0 + timedelta(seconds=10)), version(3, t0 + timedelta(seconds=20))]
    now = t0 + timedelta(seconds=10 + TIMING.activation)
    assert [s.status for s in schedule(versions, now, TIMING)] == ["previous", "active", "pending"]


@pytest.mark.parametrize("name, parsed", [("gateway-rs384", ("gateway", "RS384")), ("st-mary-es384",
                                          ("st-mary", "ES384")), ("gateway-hs256", None), ("-rs384", None),
                                          ("Gateway-rs384", None), ("rs384", None)])
def test_admin_key_names(name, parsed):
    assert parse_admin_name(name) == parsed


# --------------------------------------------------------------------------- assertion and JWKS

@pytest.mark.parametrize("alg", ["RS384", "ES384"])
async def test_the_assertion_follows_smart_backend_services_and_verifies_with_the_published_key(services, alg):
    ring = services.provider_key_ring
    await ring.ensure("gateway", alg)
    jwks = await ring.jwks()
    assert len(jwks["keys"]) == 1
    published = jwks["keys"][0]
    assert published["use"] == "sig" and published["alg"] == alg and published["kid"]
    assertion = await ring.assertion("gateway", alg, "gw-client", TOKEN_URL)
    header = jwt.get_unverified_header(assertion)
    assert header == {"alg": alg, "kid": published["kid"], "typ": "JWT"}
    key = jwt.PyJWK(published).key
    claims = jwt.decode(assertion, key, algorithms=[alg], audience=TOKEN_URL,
                        options={"verify_exp": False, "verify_iat": False})  # the services' clock is fake
    assert claims["iss"] == claims["sub"] == "gw-client" and claims["aud"] == TOKEN_URL
    assert claims["iat"] == int(services.clock.now().timestamp())
    assert claims["exp"] - claims["iat"] == ASSERTION_LIFETIME_SECONDS <= 300
    again = jwt.decode(await ring.assertion("gateway", alg, "gw-client", TOKEN_URL), key, algorithms=[alg],
                       audience=TOKEN_URL, options={"verify_exp": False, "verify_iat": False})
    assert len(claims["jti"]) >= 32 and again["jti"] != claims["jti"]


async def test_without_a_key_nothing_is_signed_and_the_route_gets_a_clear_error(services):
    auth = services.upstream_authenticator
    transport = MockTransport(lambda r: pytest.fail("no token request without an assertion"))
    with pytest.raises(UpstreamAuthError, match="not set up"):
        await auth.authorization(pkj_route(), transport)


async def test_provider_token_is_requested_with_the_assertion_once_and_cached(services):
    await services.provider_key_ring.ensure("gateway", "RS384")
    calls = []

    async def token_endpoint(request):
        calls.append(request)
        await asyncio.sleep(0.01)
        return UpstreamResponse(200, [], json.dumps({"access_token": "bsa-at", "expires_in": 300}).encode())

    auth = services.upstream_authenticator
    transport = MockTransport(token_endpoint)
    values = await asyncio.gather(*(auth.authorization(pkj_route(), transport) for _ in range(5)))
    assert values == ["Bearer bsa-at"] * 5 and len(calls) == 1  # single flight, then cached
    sent = calls[0]
    assert sent.method == "POST" and sent.url == TOKEN_URL
    assert "authorization" not in {k.lower() for k, _ in sent.headers}  # no secret, no Basic
    form = parse_qs(sent.body.decode())
    assert form["grant_type"] == ["client_credentials"] and form["scope"] == ["system/*.rs"]
    assert form["client_assertion_type"] == [CLIENT_ASSERTION_TYPE]
    assert jwt.decode(form["client_assertion"][0], options={"verify_signature": False})["aud"] == TOKEN_URL
    with pytest.raises(UpstreamAuthError):  # a key that was never created: refused before any request
        await auth.authorization(pkj_route(algorithm="ES384"), transport)
    assert len(calls) == 1


async def test_an_edited_route_gets_a_fresh_provider_token(services):
    ring = services.provider_key_ring
    await ring.ensure("gateway", "RS384")
    await ring.ensure("gateway", "ES384")
    calls = []

    def token_endpoint(request):
        calls.append(request)
        return UpstreamResponse(200, [], json.dumps({"access_token": f"t{len(calls)}", "expires_in": 300}).encode())

    auth = services.upstream_authenticator
    transport = MockTransport(token_endpoint)
    assert await auth.authorization(pkj_route(), transport) == "Bearer t1"
    assert await auth.authorization(pkj_route(algorithm="ES384"), transport) == "Bearer t2"
    assert await auth.authorization(pkj_route(client_id="other"), transport) == "Bearer t3"
    assert await auth.authorization(pkj_route(client_id="other"), transport) == "Bearer t3"
