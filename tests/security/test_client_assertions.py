"""Attacks on private_key_jwt client authentication (RFC 7523 §3, RFC 8725, SMART Backend Services) through the
token endpoint: each forged, replayed or misdirected assertion is refused with ``invalid_client`` and no token, and
a JWKS URL at a private address is refused when saved (production) and when fetched. The endpoint runs in process
on the in-memory stores; JWKS URLs are served by a real loopback server."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import serialization

from gateway.oauth.jwks_fetcher import UNKNOWN_KID_REFETCH_SECONDS, JwksFetcher
from gateway.services import Services, memory_services
from tests.fixtures.common import make_settings
from tests.fixtures.provider import ProviderServer, Reply
from tests.integration.test_jwks_fetcher import PRODUCTION, StaticResolver
from tests.support.constants import TENANT
from tests.support.oauth import assertion_form, token_request
from tests.support.surfaces import respond
from tests.unit.admin.conftest import AdminCaller
from tests.unit.oauth.helpers import add_key_client, add_route
from tests.unit.oauth.keys import CLIENT_ID, b64url, claims, ec_key, public_jwk, rsa_key, sign, unsigned

OTHER = "other-backend"


def body(response) -> dict:
    return json.loads(response.body)


def now(services: Services) -> float:
    return services.clock.now().timestamp()


async def token(services: Services, assertion: str):
    return await respond(token_request(assertion_form(assertion)), services)


def refused(response) -> dict:
    payload = body(response)
    assert response.status == 401, payload
    assert payload["error"] == "invalid_client" and "access_token" not in payload
    return payload


@pytest.fixture
async def clients(services: Services) -> Services:
    """Two private_key_jwt clients with inline keys, both allowed the tenant."""
    await add_route(services)
    await add_key_client(services, CLIENT_ID, jwks={"keys": [public_jwk(rsa_key(), "mine"),
                                                             public_jwk(ec_key(), "mine-ec")]})
    await add_key_client(services, OTHER, jwks={"keys": [public_jwk(rsa_key("other"), "theirs")]})
    return services


async def test_a_replayed_assertion_is_refused(clients):
    assertion = sign(rsa_key(), "mine", claims(now(clients)))
    assert (await token(clients, assertion)).status == 200
    payload = refused(await token(clients, assertion))
    assert payload["error_description"] == "the client assertion was already used"


async def test_a_replay_on_another_instance_sharing_the_replay_store_is_refused(clients):
    second = memory_services(clients.settings, clients.clock)
    second.routes, second.clients, second.replay = clients.routes, clients.clients, clients.replay
    assertion = sign(rsa_key(), "mine", claims(now(clients)))
    assert (await token(clients, assertion)).status == 200
    refused(await token(second, assertion))


@pytest.mark.parametrize("audience", ["http://localhost:7071/oauth2/jwks", "http://localhost:7071/fhir",
                                      "https://login.example.org/token", ["https://elsewhere.example/token"]])
async def test_an_assertion_for_another_audience_is_refused(clients, audience):
    refused(await token(clients, sign(rsa_key(), "mine", claims(now(clients), aud=audience))))


async def test_an_expired_assertion_is_refused(clients):
    issued = now(clients) - 600
    payload = refused(await token(clients, sign(rsa_key(), "mine", claims(issued, exp=int(issued) + 300))))
    assert payload["error_description"] == "the client assertion is expired"


@pytest.mark.parametrize("lifetime", [360, 3600])
async def test_an_assertion_valid_longer_than_five_minutes_is_refused(clients, lifetime):
    payload = refused(await token(clients, sign(rsa_key(), "mine", claims(now(clients),
                                                                          exp=int(now(clients)) + lifetime))))
    assert payload["error_description"] == "the client assertion's exp is more than five minutes ahead"


async def test_an_unknown_kid_is_refused(clients):
    payload = refused(await token(clients, sign(rsa_key(), "rotated-away", claims(now(clients)))))
    assert payload["error_description"] == "client authentication failed"  # nothing about the client's keys


async def test_an_unknown_kid_refetches_the_jwks_url_at_most_once_a_minute(services, provider, clock):
    await add_route(services)
    provider.script = lambda r, s: Reply(body={"keys": [public_jwk(rsa_key(), "mine")]},
                                         content_type="application/jwk-set+json")
    await add_key_client(services, CLIENT_ID, jwks_url=provider.origin + "/jwks.json")
    assert (await token(services, sign(rsa_key(), "mine", claims(now(services))))).status == 200
    for _ in range(5):
        refused(await token(services, sign(rsa_key(), "unknown", claims(now(services)))))
    assert len(provider.requests) == 1  # fetched a moment ago: an unknown kid does not fetch again
    clock.advance(UNKNOWN_KID_REFETCH_SECONDS)
    for _ in range(5):
        refused(await token(services, sign(rsa_key(), "unknown", claims(now(services)))))
    assert len(provider.requests) == 2  # one refetch a minute, however many unknown kids


async def test_a_key_from_another_clients_jwks_is_refused(clients):
    # Signed by the other client's key, named by its kid, but claiming to be this client.
    refused(await token(clients, sign(rsa_key("other"), "theirs", claims(now(clients)))))
    # Signed by the other client's key under this client's kid.
    refused(await token(clients, sign(rsa_key("other"), "mine", claims(now(clients)))))


async def test_another_client_cannot_use_its_own_key_to_claim_to_be_this_client(clients):
    forged = sign(rsa_key("other"), "theirs", claims(now(clients), iss=CLIENT_ID, sub=OTHER))
    refused(await token(clients, forged))
    forged = sign(rsa_key("other"), "theirs", claims(now(clients), iss=OTHER, sub=CLIENT_ID))
    refused(await token(clients, forged))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_is_refused(clients, alg):
    forged = unsigned({"alg": alg, "kid": "mine", "typ": "JWT"}, claims(now(clients)), b"\0")
    payload = refused(await token(clients, forged))
    assert payload["error_description"] == "the client assertion's algorithm is not allowed for its key"


@pytest.mark.parametrize("alg,digest", [("HS256", hashlib.sha256), ("HS384", hashlib.sha384),
                                        ("HS512", hashlib.sha512)])
async def test_hmac_keyed_with_the_clients_public_key_is_refused(clients, alg, digest):
    """The classic confusion: HMAC with the public key (PEM or the JWK's n) as the shared secret."""
    pem = rsa_key().public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    for secret in (pem, public_jwk(rsa_key(), "mine")["n"].encode()):
        header = b64url(json.dumps({"alg": alg, "kid": "mine", "typ": "JWT"}).encode())
        payload = b64url(json.dumps(claims(now(clients))).encode())
        signature = hmac.new(secret, f"{header}.{payload}".encode(), digest).digest()
        refused(await token(clients, f"{header}.{payload}.{b64url(signature)}"))


async def test_an_rsa_key_cannot_verify_an_ec_algorithm_or_sha256_when_not_allowed(clients):
    refused(await token(clients, sign(rsa_key(), "mine", claims(now(clients)), "RS256")))
    refused(await token(clients, sign(ec_key("p256", "P-256"), "mine-ec", claims(now(clients)), "ES256")))
    refused(await token(clients, sign(rsa_key(), "mine", claims(now(clients)), "PS384")))


async def test_an_embedded_jwk_header_is_never_used_to_find_the_key(clients):
    attacker = rsa_key("attacker")
    forged = sign(attacker, "mine", claims(now(clients)), jwk=public_jwk(attacker, "mine"))
    refused(await token(clients, forged))
    forged = sign(attacker, "mine", claims(now(clients)), jku="http://127.0.0.1:9/jwks.json")
    refused(await token(clients, forged))


async def test_a_jwks_url_at_a_private_address_is_refused_when_saved_in_production(clock):
    services = memory_services(make_settings(**PRODUCTION), clock)
    admin = AdminCaller(services)
    for url in ("https://10.0.0.8/jwks.json", "https://169.254.169.254/metadata/jwks",
                "https://127.0.0.1/jwks.json", "http://keys.example.org/jwks.json", "https://[::1]/jwks.json"):
        reply = await admin("POST", "/manage/clients", {
            "displayName": "x", "allowedTenants": [TENANT],
            "authentication": {"method": "private_key_jwt", "jwksUrl": url}})
        assert reply.status == 422, url
        assert reply.json()["errors"][0]["field"] == "authentication/jwksUrl"
    assert (await services.clients.list()).items == []
    await services.aclose()


async def test_a_jwks_url_resolving_to_a_private_address_is_refused_when_fetched(clock, provider: ProviderServer):
    services = memory_services(make_settings(**PRODUCTION), clock)
    try:
        await add_route(services)
        await add_key_client(services, CLIENT_ID, jwks_url=f"https://jwks.client.example:{provider.port}/jwks.json")
        authenticator = services.assertion_authenticator
        await authenticator.fetcher.aclose()
        resolver = StaticResolver("10.0.0.8")
        authenticator.fetcher = JwksFetcher(services.settings, clock=clock, resolver=resolver)
        refused(await token(services, sign(rsa_key(), "mine", claims(now(services)))))
        assert resolver.asked == ["jwks.client.example"] and provider.requests == []
    finally:
        await services.aclose()


async def test_refusals_never_echo_the_assertion(clients, caplog):
    forged = sign(rsa_key("other"), "mine", claims(now(clients)))
    response = await token(clients, forged)
    refused(response)
    assert forged not in response.body.decode() and forged not in caplog.text
    assert forged.split(".")[2] not in caplog.text


async def test_refusals_before_any_key_is_used_cost_a_signature_verification_too(clients, monkeypatch):
    """An unknown client id, a client using secrets and an unknown kid are refused before any key is used: each
    still verifies one signature (with the algorithm the assertion names), as a known client's forged signature
    costs, so the time taken does not tell which client ids or kids exist."""
    import gateway.oauth.assertion_auth as assertion_auth
    from tests.unit.oauth.helpers import add_client

    await add_client(clients, "secret-client")
    calls: list[str] = []
    original = assertion_auth._equal_work
    monkeypatch.setattr(assertion_auth, "_equal_work", lambda a: (calls.append(a.client_id), original(a))[1])
    cases = {
        "nobody": sign(rsa_key(), "mine", claims(now(clients), iss="nobody", sub="nobody")),
        "secret-client": sign(rsa_key(), "mine", claims(now(clients), iss="secret-client", sub="secret-client")),
        CLIENT_ID: sign(ec_key(), "no-such-kid", claims(now(clients)), "ES384"),
    }
    for assertion in cases.values():
        assert body(await token(clients, assertion)) == {"error": "invalid_client",
                                                         "error_description": "client authentication failed"}
    assert calls == list(cases)
    calls.clear()
    refused(await token(clients, sign(rsa_key("other"), "mine", claims(now(clients)))))  # a real verification
    assert calls == []
