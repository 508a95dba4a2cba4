"""Interoperability: assertions made by a real third-party client (authlib, RFC 7523 ``private_key_jwt``) pass
the gateway's verifier, sent the way authlib's OAuth2Session sends them (recorded on a loopback server).

Found here: authlib signs assertions valid for an hour by default (``expires_in=3600``), which SMART
Backend Services and the gateway refuse (at most five minutes); a client passes ``expires_in`` (or an
``exp`` claim) to comply.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey, RSAKey

from gateway.clock import SystemClock
from gateway.oauth.client_assertion import AssertionRejected, ClientAssertionVerifier, InlineKeys, read_client_assertion
from gateway.oauth.jwks import parse_public_jwks
from gateway.stores.replay import MemoryReplayStore
from tests.fixtures.provider import Reply
from tests.unit.oauth.keys import CLIENT_ID, ec_key, five_minute_private_key_jwt, public_jwk, rsa_key

pytestmark = pytest.mark.integration


def pem(private) -> bytes:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


@pytest.fixture
def keys() -> InlineKeys:
    return InlineKeys(parse_public_jwks({"keys": [public_jwk(rsa_key(), "rsa-1"), public_jwk(ec_key(), "ec-1")]}))


def verifier(token_url: str) -> ClientAssertionVerifier:
    clock = SystemClock()
    return ClientAssertionVerifier(token_url=token_url, replay=MemoryReplayStore(clock), clock=clock)


def joserfc_key(private):
    return (RSAKey if private is rsa_key() else ECKey).import_key(pem(private))


@pytest.mark.parametrize(("alg", "private", "kid"), [("RS384", rsa_key, "rsa-1"), ("ES384", ec_key, "ec-1")])
async def test_authlib_assertions_with_a_five_minute_lifetime_pass(keys, alg, private, kid):
    token_url = "https://gw.example/oauth2/token"
    assertion = private_key_jwt_sign(joserfc_key(private()), CLIENT_ID, token_url, alg=alg, header={"kid": kid},
                                     expires_in=300)
    verified = await verifier(token_url).verify(assertion, CLIENT_ID, keys)
    assert (verified.kid, verified.algorithm) == (kid, alg)


async def test_authlibs_default_hour_long_assertion_is_refused(keys):
    token_url = "https://gw.example/oauth2/token"
    assertion = private_key_jwt_sign(joserfc_key(rsa_key()), CLIENT_ID, token_url, alg="RS384", header={"kid": "rsa-1"})
    with pytest.raises(AssertionRejected) as raised:
        await verifier(token_url).verify(assertion, CLIENT_ID, keys)
    assert raised.value.reason == "lifetime"


FiveMinutePrivateKeyJWT = five_minute_private_key_jwt()


@pytest.mark.parametrize(("alg", "key"), [("RS384", lambda: RSAKey.import_key(pem(rsa_key()))),
                                          ("ES384", lambda: ECKey.import_key(pem(ec_key())))])
async def test_a_token_request_sent_by_authlibs_oauth2_session_verifies(provider, keys, alg, key):
    token_url = provider.origin + "/oauth2/token"
    provider.script = lambda request, server: Reply(
        body={"access_token": "at", "token_type": "Bearer", "expires_in": 60}, content_type="application/json")
    kid = "rsa-1" if alg == "RS384" else "ec-1"
    session = OAuth2Session(CLIENT_ID, key(), token_endpoint_auth_method=FiveMinutePrivateKeyJWT(
        token_url, headers={"kid": kid}, alg=alg), scope="72f988bf-86f1-41af-91ab-2d7cd011db47 system/Patient.rs")
    try:
        await asyncio.to_thread(session.fetch_token, token_url, grant_type="client_credentials")
    finally:
        session.close()
    (recorded,) = provider.requests
    form = dict(parse_qsl(recorded.body.decode()))
    assertion = read_client_assertion(form, authorization_header=recorded.header("authorization") is not None)
    assert assertion is not None and assertion.client_id == CLIENT_ID
    verified = await verifier(token_url).verify(assertion, assertion.client_id, keys)
    assert verified.algorithm == alg
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "72f988bf-86f1-41af-91ab-2d7cd011db47 system/Patient.rs"
