"""``private_key_jwt`` client assertions at their edges (RFC 7523 §3, SMART Backend Services): the time
claims to the second (``exp`` + leeway, five minutes ahead, ``nbf``/``iat``), the issuer and assertion
lengths to the character, and the exact ``invalid_request`` descriptions of a malformed request.
"""

from __future__ import annotations

import base64

import pytest

from gateway.oauth.client_assertion import (
    DEFAULT_LEEWAY_SECONDS,
    MAX_ASSERTION_LENGTH,
    MAX_CLIENT_ID_LENGTH,
    MAX_JTI_LENGTH,
    MAX_LIFETIME_SECONDS,
    AssertionRejected,
    ClientAssertionVerifier,
    InlineKeys,
    read_client_assertion,
)
from gateway.oauth.errors import InvalidRequest
from gateway.oauth.jwks import PublicKey, parse_public_jwks
from gateway.stores.replay import MemoryReplayStore
from tests.unit.oauth.keys import CLIENT_ID, TOKEN_URL, claims, ec_key, public_jwk, rsa_key, sign, unsigned
from tests.unit.oauth.test_client_assertion import RSA_KID, form, now, rejected

LEEWAY = int(DEFAULT_LEEWAY_SECONDS)
LIFETIME = int(MAX_LIFETIME_SECONDS)


@pytest.fixture
def keys() -> InlineKeys:
    return InlineKeys(parse_public_jwks({"keys": [public_jwk(rsa_key(), RSA_KID)]}))


@pytest.fixture
def verifier(clock) -> ClientAssertionVerifier:
    return ClientAssertionVerifier(token_url=TOKEN_URL, replay=MemoryReplayStore(clock), clock=clock)


async def test_an_assertion_expires_exactly_at_exp_plus_the_leeway(verifier, keys, clock):
    t = int(now(clock))
    assert now(clock) == t
    assert await verifier.verify(sign(rsa_key(), RSA_KID, claims(t, exp=t - LEEWAY + 1)), CLIENT_ID, keys)
    assert await rejected(verifier, sign(rsa_key(), RSA_KID, claims(t, exp=t - LEEWAY)), keys) == "expired"


async def test_exp_may_be_exactly_five_minutes_and_the_leeway_ahead(verifier, keys, clock):
    t = int(now(clock))
    farthest = t + LIFETIME + LEEWAY
    assert await verifier.verify(sign(rsa_key(), RSA_KID, claims(t, exp=farthest)), CLIENT_ID, keys)
    assert await rejected(verifier, sign(rsa_key(), RSA_KID, claims(t, exp=farthest + 1)), keys) == "lifetime"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_nbf_and_iat_may_be_exactly_the_leeway_ahead(verifier, keys, clock, claim):
    t = int(now(clock))
    assert await verifier.verify(sign(rsa_key(), RSA_KID, claims(t, **{claim: t + LEEWAY})), CLIENT_ID, keys)
    assert await rejected(verifier, sign(rsa_key(), RSA_KID, claims(t, **{claim: t + LEEWAY + 1})), keys) \
        == "not-yet-valid"


def test_an_issuer_may_be_exactly_as_long_as_a_client_id(clock):
    longest = "c" * MAX_CLIENT_ID_LENGTH
    token = unsigned({"alg": "RS384", "kid": RSA_KID}, claims(now(clock), iss=longest, sub=longest), b"sig")
    assert read_client_assertion(form(token)).client_id == longest
    too_long = unsigned({"alg": "RS384", "kid": RSA_KID}, claims(now(clock), iss=longest + "c"), b"sig")
    with pytest.raises(AssertionRejected) as raised:
        read_client_assertion(form(too_long))
    assert raised.value.reason == "issuer"


def _assertion_of_length(length: int, clock) -> str:
    for pad in range(8):
        base = unsigned({"alg": "RS384", "kid": RSA_KID, "x": "p" * pad}, claims(now(clock), pad=""), b"s" * 256)
        room = length - len(base)
        for extra in range(max(0, room * 3 // 4 - 4), room * 3 // 4 + 4):
            token = unsigned({"alg": "RS384", "kid": RSA_KID, "x": "p" * pad},
                             claims(now(clock), pad="q" * extra), b"s" * 256)
            if len(token) == length:
                return token
    raise AssertionError(f"no assertion of {length} characters")


def test_an_assertion_may_be_exactly_as_long_as_the_limit(clock):
    at_limit = _assertion_of_length(MAX_ASSERTION_LENGTH, clock)
    assert read_client_assertion(form(at_limit)).client_id == CLIENT_ID
    with pytest.raises(AssertionRejected) as raised:
        read_client_assertion(form(_assertion_of_length(MAX_ASSERTION_LENGTH + 1, clock)))
    assert raised.value.reason == "malformed"


@pytest.mark.parametrize("fields,description", [
    ({"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", "client_assertion": "x"},
     "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
    ({"client_assertion": "x.y.z"},
     "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
    ({"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
     "client_assertion is missing"),
    ({"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": "x",
      "client_secret": "s"}, "use exactly one client authentication method"),
])
def test_each_malformed_request_says_exactly_why(fields, description):
    with pytest.raises(InvalidRequest) as raised:
        read_client_assertion(fields)
    assert raised.value.description == description


def _signed_of_length(length: int, clock) -> str:
    """An assertion signed with the client's key, exactly ``length`` characters long."""
    base = len(sign(rsa_key(), RSA_KID, claims(now(clock), pad=""), x=""))
    start = (length - base) * 3 // 4 - 6
    for header_pad in range(4):
        for extra in range(start, start + 12):
            token = sign(rsa_key(), RSA_KID, claims(now(clock), pad="q" * extra), x="p" * header_pad)
            if len(token) == length:
                return token
    raise AssertionError(f"no signed assertion of {length} characters")


async def test_a_signed_assertion_longer_than_the_limit_is_refused_unread(verifier, keys, clock):
    at_limit = _signed_of_length(MAX_ASSERTION_LENGTH, clock)
    assert (await verifier.verify(at_limit, CLIENT_ID, keys)).kid == RSA_KID
    over = sign(rsa_key(), RSA_KID, claims(now(clock), pad="q" * MAX_ASSERTION_LENGTH))
    assert await rejected(verifier, over, keys) == "malformed"


async def test_a_jti_may_be_exactly_as_long_as_the_limit(verifier, keys, clock):
    t = now(clock)
    assert await verifier.verify(sign(rsa_key(), RSA_KID, claims(t, jti="j" * MAX_JTI_LENGTH)), CLIENT_ID, keys)
    assert await rejected(verifier, sign(rsa_key(), RSA_KID, claims(t, jti="k" * (MAX_JTI_LENGTH + 1))), keys) \
        == "jti"


@pytest.mark.parametrize("kid", [5, ["rsa-1"], True])
async def test_a_kid_that_is_not_a_string_is_malformed(verifier, keys, clock, kid):
    token = unsigned({"alg": "RS384", "kid": kid}, claims(now(clock)), b"sig")
    assert await rejected(verifier, token, keys) == "malformed"


@pytest.mark.parametrize("signature", [b"\x00", b"\x01" * 96, b"\xff" * 1024])
async def test_a_signature_of_the_wrong_shape_is_refused(verifier, keys, clock, signature):
    head, body, _ = sign(rsa_key(), RSA_KID, claims(now(clock))).split(".")
    forged = f"{head}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert await rejected(verifier, forged, keys) == "signature"


def test_the_algorithm_comes_from_the_allow_list_and_the_key(verifier):
    key = parse_public_jwks({"keys": [public_jwk(rsa_key(), RSA_KID)]}).get(RSA_KID)
    assert verifier.algorithm_for(key, "RS384") == "RS384"
    for requested in ("RS512", "RS256", "PS384", "ES384", "HS384", "none", None, 384):
        assert verifier.algorithm_for(key, requested) is None


@pytest.mark.parametrize("token_url", ["", [""], ["https://gateway.example/token", ""], [None], []])
def test_a_verifier_needs_every_token_url_named(clock, token_url):
    with pytest.raises(ValueError, match="^token_url must name the token endpoint$"):
        ClientAssertionVerifier(token_url=token_url, replay=MemoryReplayStore(clock), clock=clock)


class CountingKeys:
    """A key source that counts its look-ups (a JWKS URL would be fetched on each miss)."""

    def __init__(self, key: PublicKey | None) -> None:
        self.key_, self.lookups = key, 0

    async def key(self, kid: str) -> PublicKey | None:
        self.lookups += 1
        return self.key_


@pytest.mark.parametrize("alg", ["none", "HS256", "RS512", "PS384", "EdDSA"])
async def test_an_algorithm_off_the_list_is_refused_before_any_key_is_looked_up(verifier, clock, alg):
    source = CountingKeys(parse_public_jwks({"keys": [public_jwk(rsa_key(), RSA_KID)]}).get(RSA_KID))
    token = unsigned({"alg": alg, "kid": RSA_KID}, claims(now(clock)), b"sig")
    assert await rejected(verifier, token, source) == "algorithm"
    assert source.lookups == 0


async def test_a_key_whose_material_does_not_fit_its_type_verifies_nothing(verifier, clock):
    """A key source that mislabels a key (EC material called RSA) must not turn the mismatch into a pass."""
    mislabelled = PublicKey(kid=RSA_KID, kty="RSA", curve=None, alg=None, key=ec_key().public_key())
    token = sign(rsa_key(), RSA_KID, claims(now(clock)))
    assert await rejected(verifier, token, CountingKeys(mislabelled)) == "signature"
