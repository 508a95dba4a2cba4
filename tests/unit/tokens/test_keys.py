"""Key material helpers: PEM round trip, JWK export (RFC 7518 §6.2.1)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

from gateway.tokens.keyring import is_valid_kid
from gateway.tokens.keys import generate_private_key, new_kid, private_key_from_pem, private_key_to_pem, public_jwk


def test_pem_round_trip():
    key = generate_private_key()
    assert private_key_from_pem(private_key_to_pem(key)).private_numbers() == key.private_numbers()


@pytest.mark.parametrize("other", [rsa.generate_private_key(public_exponent=65537, key_size=2048),
                                   ec.generate_private_key(ec.SECP384R1())])
def test_other_key_types_are_refused(other):
    pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
    with pytest.raises(ValueError):
        private_key_from_pem(pem)


def test_public_jwk_loads_back_as_the_same_public_key():
    key = generate_private_key()
    jwk = public_jwk("k1", key.public_key())
    assert "d" not in jwk and len(base64.urlsafe_b64decode(jwk["x"] + "=")) == 32
    loaded = ECAlgorithm.from_jwk(jwk)
    assert loaded.public_numbers() == key.public_key().public_numbers()


def test_kids_are_sortable_by_creation_and_valid_secret_names():
    early, late = new_kid(datetime(2026, 1, 1, tzinfo=UTC)), new_kid(datetime(2026, 6, 1, tzinfo=UTC))
    assert early < late and is_valid_kid(early) and is_valid_kid(late)
    assert all(c.isalnum() or c == "-" for c in early)
