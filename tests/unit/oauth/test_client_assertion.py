"""RFC 7523 client assertions (private_key_jwt): every rule of gateway.oauth.client_assertion, attacked."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from gateway.clock import FakeClock
from gateway.oauth.client_assertion import (
    CLIENT_ASSERTION_TYPE,
    REASONS,
    AssertionRejected,
    ClientAssertion,
    ClientAssertionVerifier,
    InlineKeys,
    KeysUnavailable,
    read_client_assertion,
    signing_algorithms,
)
from gateway.oauth.errors import InvalidRequest
from gateway.oauth.jwks import parse_public_jwks
from gateway.stores.errors import StoreUnavailable
from gateway.stores.replay import MemoryReplayStore
from tests.unit.oauth.keys import (
    CLIENT_ID,
    TOKEN_URL,
    b64url,
    claims,
    ec_key,
    public_jwk,
    rsa_key,
    sign,
    unsigned,
)

RSA_KID, EC_KID, EC256_KID = "rsa-1", "ec-384", "ec-256"


@pytest.fixture
def replay(clock: FakeClock) -> MemoryReplayStore:
    return MemoryReplayStore(clock)


@pytest.fixture
def keys() -> InlineKeys:
    return InlineKeys(parse_public_jwks({"keys": [public_jwk(rsa_key(), RSA_KID), public_jwk(ec_key(), EC_KID),
                                                  public_jwk(ec_key("b", "P-256"), EC256_KID)]}))


@pytest.fixture
def verifier(replay, clock) -> ClientAssertionVerifier:
    return ClientAssertionVerifier(token_url=TOKEN_URL, replay=replay, clock=clock)


def now(clock: FakeClock) -> float:
    return clock.now().timestamp()


async def rejected(verifier, token, keys, client_id=CLIENT_ID) -> str:
    with pytest.raises(AssertionRejected) as raised:
        await verifier.verify(token, client_id, keys)
    error = raised.value
    body = json.loads(error.response().body)
    assert error.response().status == 401 and body["error"] == "invalid_client"
    assert body["error_description"] == REASONS[error.reason]
    assert CLIENT_ID not in body["error_description"]
    assert len(token) < 8 or token[:20] not in body["error_description"]
    return error.reason


# --------------------------------------------------------------------------- accepted

async def test_an_rs384_assertion_is_accepted(verifier, keys, clock):
    payload = claims(now(clock))
    verified = await verifier.verify(sign(rsa_key(), RSA_KID, payload, "RS384"), CLIENT_ID, keys)
    assert (verified.client_id, verified.jti, verified.kid, verified.algorithm) == \
        (CLIENT_ID, payload["jti"], RSA_KID, "RS384")
    assert verified.expires_at.timestamp() == payload["exp"]


async def test_an_es384_assertion_is_accepted(verifier, keys, clock):
    verified = await verifier.verify(sign(ec_key(), EC_KID, claims(now(clock)), "ES384"), CLIENT_ID, keys)
    assert verified.algorithm == "ES384"


async def test_a_client_assertion_object_and_an_audience_list_are_accepted(verifier, keys, clock):
    token = sign(rsa_key(), RSA_KID, claims(now(clock), aud=["https://other.example", TOKEN_URL]))
    assert (await verifier.verify(ClientAssertion(token, CLIENT_ID), CLIENT_ID, keys)).kid == RSA_KID


async def test_several_token_urls_may_be_accepted(replay, clock, keys):
    verifier = ClientAssertionVerifier(token_url=[TOKEN_URL, "https://gw.example/oauth2/token"], replay=replay,
                                       clock=clock)
    token = sign(rsa_key(), RSA_KID, claims(now(clock), aud="https://gw.example/oauth2/token"))
    assert await verifier.verify(token, CLIENT_ID, keys)


# --------------------------------------------------------------------------- algorithms

async def test_sha256_algorithms_need_the_setting(verifier, replay, clock, keys):
    assert signing_algorithms() == ("RS384", "ES384") == verifier.algorithms
    rs256 = sign(rsa_key(), RSA_KID, claims(now(clock)), "RS256")
    es256 = sign(ec_key("b", "P-256"), EC256_KID, claims(now(clock)), "ES256")
    assert await rejected(verifier, rs256, keys) == "algorithm"
    assert await rejected(verifier, es256, keys) == "algorithm"
    allowing = ClientAssertionVerifier(token_url=TOKEN_URL, replay=replay, clock=clock, allow_sha256=True)
    assert allowing.algorithms == ("RS384", "ES384", "RS256", "ES256")
    assert (await allowing.verify(rs256, CLIENT_ID, keys)).algorithm == "RS256"
    assert (await allowing.verify(es256, CLIENT_ID, keys)).algorithm == "ES256"


async def test_alg_none_is_refused(verifier, keys, clock):
    for alg in ("none", "None", "NONE"):
        token = unsigned({"alg": alg, "kid": RSA_KID, "typ": "JWT"}, claims(now(clock)))
        assert await rejected(verifier, token, keys) in ("algorithm", "malformed")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_signed_with_the_public_key_is_refused(verifier, keys, clock, alg):
    """The classic confusion: the public key's PEM (public knowledge) used as an HMAC secret."""
    pem = rsa_key().public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64url(json.dumps({"alg": alg, "kid": RSA_KID}).encode())
    payload = b64url(json.dumps(claims(now(clock))).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signature = hmac.new(pem, f"{header}.{payload}".encode(), digest).digest()
    assert await rejected(verifier, f"{header}.{payload}.{b64url(signature)}", keys) == "algorithm"


@pytest.mark.parametrize(("key", "kid", "alg"), [
    (lambda: ec_key(), RSA_KID, "ES384"),              # EC signature against the RSA key
    (lambda: rsa_key(), EC_KID, "RS384"),              # RSA signature against the EC key
    (lambda: ec_key(), EC256_KID, "ES384"),            # ES384 against a P-256 key
    (lambda: rsa_key(), RSA_KID, "PS384"),
    (lambda: rsa_key(), RSA_KID, "RS512"),
])
async def test_the_algorithm_must_fit_the_key_type(verifier, keys, clock, key, kid, alg):
    token = sign(key(), kid, claims(now(clock)), alg)
    assert await rejected(verifier, token, keys) == "algorithm"


async def test_a_jwk_that_pins_its_algorithm_is_used_with_that_one_only(replay, clock):
    pinned = InlineKeys(parse_public_jwks({"keys": [public_jwk(rsa_key(), RSA_KID, alg="RS256")]}))
    verifier = ClientAssertionVerifier(token_url=TOKEN_URL, replay=replay, clock=clock, allow_sha256=True)
    assert await rejected(verifier, sign(rsa_key(), RSA_KID, claims(now(clock)), "RS384"), pinned) == "algorithm"
    assert await verifier.verify(sign(rsa_key(), RSA_KID, claims(now(clock)), "RS256"), CLIENT_ID, pinned)


# --------------------------------------------------------------------------- keys

async def test_an_unknown_kid_is_refused(verifier, keys, clock):
    assert await rejected(verifier, sign(rsa_key(), "other", claims(now(clock))), keys) == "unknown-key"


async def test_a_missing_kid_is_refused(verifier, keys, clock):
    assert await rejected(verifier, sign(rsa_key(), None, claims(now(clock))), keys) == "malformed"


async def test_a_key_of_another_clients_jwks_is_refused(verifier, keys, clock):
    """Another client's key, even under a kid this client also uses, does not verify."""
    intruder = rsa_key("intruder")
    assert await rejected(verifier, sign(intruder, RSA_KID, claims(now(clock))), keys) == "signature"
    assert await rejected(verifier, sign(intruder, "intruder-kid", claims(now(clock))), keys) == "unknown-key"


async def test_a_key_embedded_in_the_header_is_never_used(verifier, keys, clock):
    intruder = rsa_key("intruder")
    jwk = public_jwk(intruder, RSA_KID)
    token = sign(intruder, RSA_KID, claims(now(clock)), jwk=jwk, jku="https://evil.example/jwks", x5u="https://e/")
    assert await rejected(verifier, token, keys) == "signature"


async def test_a_tampered_payload_fails_the_signature(verifier, keys, clock):
    token = sign(rsa_key(), RSA_KID, claims(now(clock), sub="someone"))
    header, _, signature = token.split(".")
    forged = b64url(json.dumps(claims(now(clock))).encode())
    assert await rejected(verifier, f"{header}.{forged}.{signature}", keys) == "signature"


async def test_unavailable_keys_are_refused(verifier, clock):
    class Down:
        async def key(self, kid):
            raise KeysUnavailable("the JWKS URL did not answer")

    assert await rejected(verifier, sign(rsa_key(), RSA_KID, claims(now(clock))), Down()) == "keys-unavailable"


async def test_a_crit_header_is_refused(verifier, keys, clock):
    token = sign(rsa_key(), RSA_KID, claims(now(clock)), crit=["exp"])
    assert await rejected(verifier, token, keys) == "malformed"


# --------------------------------------------------------------------------- claims

@pytest.mark.parametrize(("changes", "reason"), [
    ({"iss": "someone-else"}, "issuer"),
    ({"sub": "someone-else"}, "issuer"),
    ({"iss": "x", "sub": "x"}, "issuer"),
    ({"iss": None}, "issuer"),
    ({"sub": None}, "issuer"),
    ({"aud": "https://elsewhere.example/token"}, "audience"),
    ({"aud": TOKEN_URL + "/"}, "audience"),
    ({"aud": ["https://elsewhere.example/token"]}, "audience"),
    ({"aud": None}, "audience"),
    ({"aud": 42}, "audience"),
    ({"aud": [42, {"u": TOKEN_URL}]}, "audience"),
    ({"exp": None}, "malformed"),
    ({"exp": "9999999999"}, "malformed"),
    ({"exp": True}, "malformed"),
    ({"jti": None}, "jti"),
    ({"jti": ""}, "jti"),
    ({"jti": 12345}, "jti"),
    ({"jti": "x" * 1025}, "jti"),
])
async def test_claims_that_break_a_rule_are_refused(verifier, keys, clock, changes, reason):
    token = sign(rsa_key(), RSA_KID, claims(now(clock), **changes))
    assert await rejected(verifier, token, keys) == reason


async def test_exp_must_be_ahead_within_five_minutes_give_or_take_the_leeway(verifier, keys, clock):
    t = now(clock)
    assert await rejected(verifier, sign(rsa_key(), RSA_KID, claims(t, exp=int(t) - 31)), keys) == "expired"
    assert await rejected(verifier, sign(rsa_key(), RSA_KID, claims(t, exp=int(t) + 331)), keys) == "lifetime"
    assert await rejected(verifier, sign(rsa_key(), RSA_KID, claims(t, exp=int(t) + 3600)), keys) == "lifetime"
    assert await verifier.verify(sign(rsa_key(), RSA_KID, claims(t, exp=int(t) - 29)), CLIENT_ID, keys)
    assert await verifier.verify(sign(rsa_key(), RSA_KID, claims(t, exp=int(t) + 300)), CLIENT_ID, keys)
    assert await verifier.verify(sign(rsa_key(), RSA_KID, claims(t, exp=int(t) + 329)), CLIENT_ID, keys)


async def test_a_stolen_assertion_is_useless_once_expired(verifier, keys, clock):
    token = sign(rsa_key(), RSA_KID, claims(now(clock), exp=int(now(clock)) + 60))
    clock.advance(91)
    assert await rejected(verifier, token, keys) == "expired"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_nbf_and_iat_must_not_be_in_the_future(verifier, keys, clock, claim):
    t = now(clock)
    assert await rejected(verifier, sign(rsa_key(), RSA_KID, claims(t, **{claim: int(t) + 120})), keys) \
        == "not-yet-valid"
    assert await rejected(verifier, sign(rsa_key(), RSA_KID, claims(t, **{claim: "soon"})), keys) == "malformed"
    assert await verifier.verify(sign(rsa_key(), RSA_KID, claims(t, **{claim: int(t) + 20})), CLIENT_ID, keys)


# --------------------------------------------------------------------------- replay

async def test_a_replayed_assertion_is_refused(verifier, keys, clock):
    token = sign(rsa_key(), RSA_KID, claims(now(clock)))
    assert await verifier.verify(token, CLIENT_ID, keys)
    assert await rejected(verifier, token, keys) == "replayed"
    clock.advance(60)
    assert await rejected(verifier, token, keys) == "replayed"


async def test_a_new_assertion_with_a_used_jti_is_refused(verifier, keys, clock):
    first = claims(now(clock))
    assert await verifier.verify(sign(rsa_key(), RSA_KID, first), CLIENT_ID, keys)
    again = sign(ec_key(), EC_KID, claims(now(clock), jti=first["jti"], exp=first["exp"] + 10), "ES384")
    assert await rejected(verifier, again, keys) == "replayed"


async def test_a_refused_assertion_does_not_use_up_its_jti(verifier, keys, clock):
    payload = claims(now(clock))
    assert await rejected(verifier, sign(rsa_key(), RSA_KID, {**payload, "aud": "https://x.example"}), keys) \
        == "audience"
    assert await verifier.verify(sign(rsa_key(), RSA_KID, payload), CLIENT_ID, keys)


async def test_the_jti_is_remembered_until_the_assertion_could_no_longer_pass(verifier, replay, keys, clock):
    payload = claims(now(clock), exp=int(now(clock)) + 100)
    await verifier.verify(sign(rsa_key(), RSA_KID, payload), CLIENT_ID, keys)
    clock.advance(100 + 29)  # still inside the leeway: the replay store must still know it
    assert await replay.use_once(CLIENT_ID, payload["jti"], clock.now() + timedelta(seconds=1)) is False


async def test_an_unreachable_replay_store_accepts_nothing(verifier, replay, keys, clock):
    replay.available = False
    with pytest.raises(StoreUnavailable):
        await verifier.verify(sign(rsa_key(), RSA_KID, claims(now(clock))), CLIENT_ID, keys)


# --------------------------------------------------------------------------- malformed input

@pytest.mark.parametrize("token", ["", "a", "a.b", "a.b.c", "....", "x" * 9000, "eyJhbGciOiJSUzM4NCJ9.e30.",
                                   b64url(b"[1]") + "." + b64url(b"{}") + ".sig"])
async def test_garbage_is_malformed(verifier, keys, token):
    assert await rejected(verifier, token, keys) == "malformed"


# --------------------------------------------------------------------------- the token request's form

def form(token: str, **extra: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": token, **extra}


def test_a_form_without_an_assertion_is_left_to_the_secret_methods():
    assert read_client_assertion({"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}) is None


def test_the_form_gives_the_assertion_and_its_unverified_issuer(clock):
    token = sign(rsa_key(), RSA_KID, claims(now(clock)))
    assertion = read_client_assertion(form(token, client_id=CLIENT_ID))
    assert assertion == ClientAssertion(token, CLIENT_ID)
    assert token not in repr(assertion)


@pytest.mark.parametrize("fields", [
    {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", "client_assertion": "x"},
    {"client_assertion_type": CLIENT_ASSERTION_TYPE},
    {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": ""},
    {"client_assertion": "x.y.z"},
])
def test_an_incomplete_assertion_is_invalid_request(fields):
    with pytest.raises(InvalidRequest):
        read_client_assertion(fields)


def test_two_authentication_methods_are_invalid_request(clock):
    token = sign(rsa_key(), RSA_KID, claims(now(clock)))
    with pytest.raises(InvalidRequest):
        read_client_assertion(form(token, client_secret="s"))
    with pytest.raises(InvalidRequest):
        read_client_assertion(form(token), authorization_header=True)


def test_a_client_id_that_is_not_the_issuer_is_invalid_client(clock):
    token = sign(rsa_key(), RSA_KID, claims(now(clock)))
    with pytest.raises(AssertionRejected) as raised:
        read_client_assertion(form(token, client_id="another-client"))
    assert raised.value.reason == "issuer"


@pytest.mark.parametrize("token", ["not-a-jwt", "x" * 9000])
def test_an_unreadable_assertion_is_invalid_client(token):
    with pytest.raises(AssertionRejected):
        read_client_assertion(form(token))


@pytest.mark.parametrize("issuer", [None, "", 7, "a\nb", "x" * 129])
def test_an_assertion_without_a_usable_issuer_is_invalid_client(clock, issuer):
    token = unsigned({"alg": "RS384", "kid": RSA_KID}, claims(now(clock), iss=issuer), b"sig")
    with pytest.raises(AssertionRejected) as raised:
        read_client_assertion(form(token))
    assert raised.value.reason == "issuer"


def test_the_verifier_needs_a_token_url(replay):
    with pytest.raises(ValueError):
        ClientAssertionVerifier(token_url=[], replay=replay)


async def test_a_repeated_claim_name_is_malformed(verifier, keys, clock):
    """Two "sub" members: parsers differ on which one wins, so the assertion is refused whatever the signature."""
    good = claims(now(clock))
    token = sign(rsa_key(), RSA_KID, good)
    header, payload, signature = token.split(".")
    text = json.dumps(good)[:-1] + ', "sub": "someone-else"}'
    assert await rejected(verifier, f"{header}.{b64url(text.encode())}.{signature}", keys) == "malformed"
    repeated_header = b64url(b'{"alg": "RS384", "kid": "rsa-1", "alg": "HS256"}')
    assert await rejected(verifier, f"{repeated_header}.{payload}.{signature}", keys) == "malformed"


@pytest.mark.parametrize("mangle", [lambda t: t + ".", lambda t: t.rsplit(".", 1)[0] + ".",
                                    lambda t: t.replace(".", ". ", 1), lambda t: "." + t,
                                    lambda t: t[:-1] + "=", lambda t: t + "A"])
async def test_a_mangled_compact_serialization_is_refused(verifier, keys, clock, mangle):
    token = sign(rsa_key(), RSA_KID, claims(now(clock)))
    assert await rejected(verifier, mangle(token), keys) in ("malformed", "signature")


@pytest.mark.parametrize("exp", ["NaN", "Infinity", "-Infinity", "1" + "0" * 400, "1e400"])
async def test_numbers_json_allows_but_no_clock_does_are_malformed(verifier, keys, clock, exp):
    """A signed assertion whose exp is NaN or a 400-digit number: refused, never a crash."""
    good = claims(now(clock))
    text = json.dumps({k: v for k, v in good.items() if k != "exp"})[:-1] + f', "exp": {exp}}}'
    header = b64url(json.dumps({"alg": "RS384", "kid": RSA_KID}).encode())
    payload = b64url(text.encode())
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = rsa_key().sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA384())
    assert await rejected(verifier, f"{header}.{payload}.{b64url(signature)}", keys) == "malformed"
