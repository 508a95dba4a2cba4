"""Contract suite of ProviderKeyStore (``gateway.stores.provider_keys``).

Subclass :class:`ProviderKeyStoreContract` as ``Test...`` and provide a ``keys`` fixture: the in-memory twin in
tests/unit/stores/test_memory_provider_keys.py, Key Vault keys on the emulator (production ``KeyClient`` and
``CryptographyClient`` over HTTPS) in tests/integration/test_keyvault_provider_keys.py. Signatures are checked
with ``cryptography`` against the public JWK the store reports: what a provider does with the published JWKS.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from gateway.stores.errors import AlreadyExists, NotFound
from gateway.stores.provider_keys import jwk_thumbprint

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


def unique() -> str:
    return f"gw-provider-test-{uuid.uuid4().hex[:10]}"


def _int(text: str) -> int:
    import base64

    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def verify(jwk: dict, message: bytes, signature: bytes) -> None:
    """Verify a JWS signature (RS384, or ES384 as raw r || s) with the public JWK alone."""
    if jwk["kty"] == "RSA":
        key = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA384())
        return
    assert len(signature) == 96
    key = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), ec.SECP384R1()).public_key()
    der = utils.encode_dss_signature(int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big"))
    key.verify(der, message, ec.ECDSA(hashes.SHA384()))


class ProviderKeyStoreContract:
    @pytest.mark.parametrize("alg, kty", [("RS384", "RSA"), ("ES384", "EC")])
    async def test_create_reports_the_public_key_only(self, keys, alg, kty):
        name = unique()
        created = await keys.create(name, alg)
        assert (created.name, created.alg, created.public_jwk["kty"], created.enabled) == (name, alg, kty, True)
        assert not PRIVATE_MEMBERS & set(created.public_jwk)
        if alg == "ES384":
            assert created.public_jwk["crv"] == "P-384"
        else:
            assert _int(created.public_jwk["n"]).bit_length() == 3072
        assert created.kid == jwk_thumbprint(created.public_jwk) and created.created_on.tzinfo is not None
        assert [v.version for v in await keys.versions(name)] == [created.version]
        assert name in await keys.names()

    async def test_creating_an_existing_key_is_refused_and_changes_nothing(self, keys):
        name = unique()
        first = await keys.create(name, "ES384")
        with pytest.raises(AlreadyExists):
            await keys.create(name, "ES384")
        assert [v.version for v in await keys.versions(name)] == [first.version]

    @pytest.mark.parametrize("name", ["", "has space", "x" * 128, "under_score"])
    async def test_an_invalid_name_is_a_value_error_on_create_and_absent_elsewhere(self, keys, name):
        with pytest.raises(ValueError):
            await keys.create(name, "RS384")
        assert await keys.versions(name) == []
        with pytest.raises(NotFound):
            await keys.rotate(name)

    async def test_an_unknown_algorithm_is_a_value_error(self, keys):
        with pytest.raises(ValueError):
            await keys.create(unique(), "HS256")

    async def test_rotation_adds_a_version_of_the_same_kind(self, keys):
        name = unique()
        first = await keys.create(name, "RS384")
        second = await keys.rotate(name)
        assert second.alg == "RS384" and second.version != first.version and second.kid != first.kid
        listed = await keys.versions(name)
        assert [v.version for v in listed] == [first.version, second.version]  # oldest first
        assert listed[0].created_on <= listed[1].created_on

    async def test_an_absent_key_has_no_versions_and_cannot_rotate(self, keys):
        name = unique()
        assert await keys.versions(name) == []
        with pytest.raises(NotFound):
            await keys.rotate(name)

    @pytest.mark.parametrize("alg", ["RS384", "ES384"])
    async def test_each_version_signs_and_its_published_key_verifies(self, keys, alg):
        name = unique()
        first = await keys.create(name, alg)
        second = await keys.rotate(name)
        message = b"eyJhbGciOiJSUzM4NCJ9.eyJpc3MiOiJndyJ9"
        digest = hashlib.sha384(message).digest()
        for version in (first, second):
            verify(version.public_jwk, message, await keys.sign(name, version.version, alg, digest))
        with pytest.raises(InvalidSignature):
            verify(first.public_jwk, message, await keys.sign(name, second.version, alg, digest))

    async def test_signing_with_an_unknown_version_is_not_found(self, keys):
        name = unique()
        await keys.create(name, "ES384")
        with pytest.raises(NotFound):
            await keys.sign(name, uuid.uuid4().hex, "ES384", hashlib.sha384(b"m").digest())
        with pytest.raises(NotFound):
            await keys.sign(unique(), uuid.uuid4().hex, "ES384", hashlib.sha384(b"m").digest())
