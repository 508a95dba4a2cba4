"""A client's JWKS at its edges (RFC 7517, RFC 7518 §6): the exact problems an administrator is shown, the
limits to the unit (kid length, RSA modulus and exponent sizes, number of keys), and admin input judged
strictly by default.
"""

from __future__ import annotations

import base64

import pytest

from gateway.oauth.jwks import (
    MAX_KEYS,
    MAX_KID_LENGTH,
    MAX_RSA_BITS,
    MAX_RSA_EXPONENT_BITS,
    JwksError,
    parse_public_jwks,
    validate_public_jwks,
)
from tests.unit.oauth.keys import ec_key, public_jwk, rsa_key


def _uint(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def rsa_jwk(kid: str, *, n: int, e: int = 65537) -> dict:
    """An RSA public JWK with any modulus (no private key needed to describe one)."""
    return {"kty": "RSA", "kid": kid, "n": _uint(n), "e": _uint(e)}


def ec(kid: str, **extra) -> dict:
    return public_jwk(ec_key("b", "P-256"), kid, **extra)


def test_a_kid_may_be_exactly_as_long_as_the_limit_and_must_be_printable():
    assert validate_public_jwks({"keys": [ec("k" * MAX_KID_LENGTH)]}) == []
    problem = f"keys[0].kid must be a non-empty printable string of at most {MAX_KID_LENGTH} characters"
    assert validate_public_jwks({"keys": [ec("k" * (MAX_KID_LENGTH + 1))]}) == [problem]
    assert validate_public_jwks({"keys": [ec("a\nb")]}) == [problem]


def test_rsa_moduli_up_to_the_largest_size_and_exponents_up_to_32_bits_are_accepted():
    largest = (1 << (MAX_RSA_BITS - 1)) + 1  # odd, exactly MAX_RSA_BITS bits
    e_32_bits = (1 << (MAX_RSA_EXPONENT_BITS - 1)) + 1
    assert validate_public_jwks({"keys": [rsa_jwk("big", n=largest, e=e_32_bits)]}) == []
    too_big = (1 << MAX_RSA_BITS) + 1
    assert validate_public_jwks({"keys": [rsa_jwk("big", n=too_big)]}) == \
        [f"keys[0] must be an RSA key of 2048 to {MAX_RSA_BITS} bits"]
    assert validate_public_jwks({"keys": [rsa_jwk("e", n=largest, e=(1 << MAX_RSA_EXPONENT_BITS) + 1)]}) == \
        [f"keys[0].e must be at most {MAX_RSA_EXPONENT_BITS} bits"]


def test_a_set_may_hold_exactly_as_many_keys_as_the_limit():
    assert len(parse_public_jwks({"keys": [ec(f"k{n}") for n in range(MAX_KEYS)]})) == MAX_KEYS
    assert validate_public_jwks({"keys": [ec(f"k{n}") for n in range(MAX_KEYS + 1)]}) == \
        [f"the JWKS has more than {MAX_KEYS} keys"]


@pytest.mark.parametrize("jwk,problems", [
    (ec("k", alg=5), ["keys[0].alg must be a string"]),
    ({**ec("k"), "crv": 5}, ["keys[0].crv must be P-256 or P-384"]),
    ({**ec("k"), "crv": ["P-256"]}, ["keys[0].crv must be P-256 or P-384"]),
])
def test_each_problem_of_a_key_is_named_exactly(jwk, problems):
    assert validate_public_jwks({"keys": [jwk]}) == problems


def test_every_key_holding_private_members_is_named():
    private = {**ec("one"), "d": "x"}
    other = {**ec("two"), "d": "y"}
    assert validate_public_jwks({"keys": [private, other]}) == [
        "keys[0] contains the private member 'd': give public keys only",
        "keys[1] contains the private member 'd': give public keys only",
    ]


def test_a_refused_set_reads_as_its_problems_one_after_the_other():
    with pytest.raises(JwksError) as raised:
        parse_public_jwks({"keys": [{**ec("one"), "d": "x"}, {**ec("two"), "p": "y"}]})
    assert str(raised.value) == ("keys[0] contains the private member 'd': give public keys only; "
                                 "keys[1] contains the private member 'p': give public keys only")


def test_admin_input_is_judged_strictly_by_default():
    weak = public_jwk(rsa_key("weak", 1024), "weak")
    with pytest.raises(JwksError) as raised:
        parse_public_jwks({"keys": [ec("good"), weak]})
    assert raised.value.problems == ["keys[1] must be an RSA key of 2048 to 8192 bits"]
    assert list(parse_public_jwks({"keys": [ec("good"), weak]}, strict=False).keys) == ["good"]


def test_a_fetched_set_refused_names_only_what_refuses_it():
    with pytest.raises(JwksError) as raised:
        parse_public_jwks({"keys": [{**ec("one"), "d": "x"}, {"kty": "oct", "kid": "s"}]}, strict=False)
    assert raised.value.problems == ["keys[0] contains the private member 'd': give public keys only"]
    with pytest.raises(JwksError) as raised:
        parse_public_jwks({"keys": [{"kty": "oct", "kid": "s", "alg": "HS256"}]}, strict=False)
    assert raised.value.problems == \
        ["the JWKS has no usable signature key (RSA of 2048 bits or more, EC P-256 or P-384)"]
    assert str(raised.value) == raised.value.problems[0]
