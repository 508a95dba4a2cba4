"""The emulator's key operations without HTTP (devtools.keyvault_emulator.crypto and keys): every algorithm
signs a digest that the public half verifies, in the wire form a JWS carries; retention of deleted keys."""

from __future__ import annotations

import hashlib

import jwt
import pytest
from jwt.utils import base64url_encode

from devtools.keyvault_emulator import crypto
from devtools.keyvault_emulator.keys import Keys
from devtools.keyvault_emulator.vault import VaultError

SPECS = {"RS256": crypto.KeySpec("RSA", size=2048), "RS512": crypto.KeySpec("RSA", size=2048),
         "PS384": crypto.KeySpec("RSA", size=2048), "ES256": crypto.KeySpec("EC", curve="P-256"),
         "ES384": crypto.KeySpec("EC", curve="P-384"), "ES512": crypto.KeySpec("EC", curve="P-521")}


@pytest.mark.parametrize("algorithm", sorted(SPECS))
def test_every_algorithm_signs_a_jws_that_pyjwt_verifies(algorithm):
    key = crypto.load(crypto.generate(SPECS[algorithm]))
    signing_input = base64url_encode(b'{"alg":"%s","typ":"JWT"}' % algorithm.encode()) + b"." + \
        base64url_encode(b'{"sub":"x"}')
    digest = hashlib.new(f"sha{algorithm[2:]}", signing_input).digest()
    signature = crypto.sign(key, algorithm, digest)
    token = (signing_input + b"." + base64url_encode(signature)).decode()
    public = jwt.PyJWK({**crypto.public_members(key), "kty": SPECS[algorithm].kty}, algorithm=algorithm).key
    assert jwt.decode(token, public, algorithms=[algorithm]) == {"sub": "x"}
    assert crypto.verify(key, algorithm, digest, signature)
    assert not crypto.verify(key, algorithm, hashlib.new(f"sha{algorithm[2:]}", b"other").digest(), signature)


def test_ec_signatures_are_raw_r_and_s_of_the_curve_size():
    for algorithm, size in (("ES256", 64), ("ES384", 96), ("ES512", 132)):
        key = crypto.load(crypto.generate(SPECS[algorithm]))
        digest = hashlib.new(f"sha{algorithm[2:]}", b"m").digest()
        assert len(crypto.sign(key, algorithm, digest)) == size


def test_deleted_key_is_purged_by_itself_after_the_retention_period(tmp_path):
    now = [1_800_000_000.0]
    keys = Keys(tmp_path, recoverable_days=7, clock=lambda: now[0])
    spec, body = keys.prepare("k", {"kty": "EC", "crv": "P-256"})
    keys.create("k", body, spec, crypto.generate(spec))
    keys.delete("k")
    now[0] += 7 * 86400
    with pytest.raises(VaultError) as info:
        keys.deleted("k")
    assert info.value.code == "KeyNotFound"
    keys.create("k", body, spec, crypto.generate(spec))  # the name is free again
