"""Public-keys-only JWKS validation (RFC 7517 §5) for private_key_jwt clients."""

from __future__ import annotations

import json

import pytest

from gateway.oauth.jwks import MAX_KEYS, JwksError, parse_public_jwks, validate_public_jwks
from tests.unit.oauth.keys import ec_key, private_jwk, public_jwk, rsa_key


def jwks(*keys):
    return {"keys": list(keys)}


def test_rsa_and_ec_public_keys_are_accepted():
    document = jwks(public_jwk(rsa_key(), "rsa-1"), public_jwk(ec_key(), "ec-384"),
                    public_jwk(ec_key("b", "P-256"), "ec-256", alg="ES256", use="sig", key_ops=["verify"]))
    assert validate_public_jwks(document) == []
    keys = parse_public_jwks(document)
    assert len(keys) == 3
    assert keys.get("rsa-1").kty == "RSA" and keys.get("ec-384").curve == "P-384"
    assert keys.get("ec-256").alg == "ES256"
    assert keys.get("nope") is None
    assert parse_public_jwks(json.dumps(document)).get("rsa-1") is not None  # the JSON text too


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi"])
def test_a_private_rsa_member_is_an_error_naming_it(member):
    key = private_jwk(rsa_key(), "rsa-1")
    public = public_jwk(rsa_key(), "rsa-1")
    document = jwks({**public, member: key[member]})
    problems = validate_public_jwks(document)
    assert problems == [f"keys[0] contains the private member '{member}': give public keys only"]
    assert key[member] not in " ".join(problems)
    with pytest.raises(JwksError) as raised:
        parse_public_jwks(document)
    assert raised.value.problems == problems


def test_a_full_private_key_names_every_private_member():
    problems = validate_public_jwks(jwks(public_jwk(ec_key(), "ok"), private_jwk(rsa_key(), "leaked")))
    assert [p.split("'")[1] for p in problems] == ["d", "p", "q", "dp", "dq", "qi"]
    assert all(p.startswith("keys[1]") for p in problems)
    assert validate_public_jwks(jwks(private_jwk(ec_key(), "ec"))) == [
        "keys[0] contains the private member 'd': give public keys only"]


def test_a_symmetric_key_is_refused_as_a_secret():
    assert validate_public_jwks(jwks({"kty": "oct", "k": "c2VjcmV0", "kid": "h"})) == [
        "keys[0] contains the private member 'k': give public keys only"]


def test_a_fetched_set_with_a_private_member_is_refused_too():
    with pytest.raises(JwksError):
        parse_public_jwks(jwks(public_jwk(ec_key(), "ok"), private_jwk(rsa_key(), "leaked")), strict=False)


@pytest.mark.parametrize(("jwk", "problem"), [
    (lambda: public_jwk(rsa_key("small", 1024), "k"), "keys[0] must be an RSA key of 2048 to 8192 bits"),
    (lambda: public_jwk(ec_key("c", "P-521"), "k"), "keys[0].crv must be P-256 or P-384"),
    (lambda: public_jwk(ec_key("d", "secp256k1"), "k"), "keys[0].crv must be P-256 or P-384"),
    (lambda: {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "k"},
     "keys[0].kty must be RSA or EC"),
    (lambda: {k: v for k, v in public_jwk(rsa_key(), "k").items() if k != "kid"}, "keys[0].kid must be"),
    (lambda: public_jwk(rsa_key(), ""), "keys[0].kid must be"),
    (lambda: public_jwk(rsa_key(), "k", use="enc"), "keys[0].use must be 'sig'"),
    (lambda: public_jwk(rsa_key(), "k", key_ops=["encrypt"]), "keys[0].key_ops must include 'verify'"),
    (lambda: public_jwk(rsa_key(), "k", alg="ES384"), "keys[0].alg must be RS384 or RS256"),
    (lambda: public_jwk(rsa_key(), "k", alg="HS256"), "keys[0].alg must be RS384 or RS256"),
    (lambda: public_jwk(rsa_key(), "k", alg="RS512"), "keys[0].alg must be RS384 or RS256"),
    (lambda: public_jwk(rsa_key(), "k", alg="PS384"), "keys[0].alg must be RS384 or RS256"),
    (lambda: public_jwk(ec_key(), "k", alg="ES256"), "keys[0].alg must be ES384 for a P-384 key"),
    (lambda: public_jwk(rsa_key(), "k", e="AQAAAAAB"), "keys[0].e must be at most 32 bits"),
    (lambda: {**public_jwk(rsa_key(), "k"), "n": "not base64!"}, "keys[0] is not a valid RSA public key"),
    (lambda: {**public_jwk(ec_key(), "k"), "y": public_jwk(ec_key(), "k")["x"]}, "keys[0] is not a valid EC public"),
    (lambda: "a string", "keys[0] must be a JSON object"),
])
def test_keys_that_cannot_verify_an_assertion_are_refused(jwk, problem):
    problems = validate_public_jwks(jwks(jwk()))
    assert len(problems) == 1 and problems[0].startswith(problem), problems
    with pytest.raises(JwksError):
        parse_public_jwks(jwks(jwk()))


@pytest.mark.parametrize(("document", "problem"), [
    ({}, "the JWKS must be a JSON object with a 'keys' array"),
    ([], "the JWKS must be a JSON object with a 'keys' array"),
    ({"keys": {}}, "the JWKS must be a JSON object with a 'keys' array"),
    ({"keys": []}, "the JWKS has no keys"),
    ("{not json", "the JWKS is not JSON"),
    (b"\xff", "the JWKS is not JSON"),
    ({"keys": [{"kty": "EC"}] * (MAX_KEYS + 1)}, f"the JWKS has more than {MAX_KEYS} keys"),
])
def test_documents_that_are_no_key_set_are_refused(document, problem):
    assert validate_public_jwks(document) == [problem]


def test_a_repeated_kid_is_refused():
    assert validate_public_jwks(jwks(public_jwk(rsa_key(), "same"), public_jwk(ec_key(), "same"))) == [
        "the JWKS repeats a kid: every key needs its own"]


def test_a_fetched_set_skips_keys_it_cannot_use_and_keeps_the_others():
    document = jwks(public_jwk(rsa_key(), "enc-key", use="enc"), {"kty": "OKP", "kid": "ed"},
                    public_jwk(ec_key(), "good"))
    assert validate_public_jwks(document)  # an administrator is told
    keys = parse_public_jwks(document, strict=False)
    assert list(keys.keys) == ["good"]
    with pytest.raises(JwksError, match="no usable signature key"):
        parse_public_jwks(jwks(public_jwk(rsa_key(), "enc-key", use="enc")), strict=False)


def test_key_repr_shows_no_key_material():
    key = parse_public_jwks(jwks(public_jwk(rsa_key(), "rsa-1"))).get("rsa-1")
    assert public_jwk(rsa_key(), "rsa-1")["n"][:20] not in repr(key)
