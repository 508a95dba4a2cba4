"""In-memory twin of the Key Vault provider key store (unit tests): same contract, keys made by ``cryptography``."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from gateway.clock import Clock, SystemClock
from gateway.stores.errors import AlreadyExists, NotFound
from gateway.stores.provider_keys import (
    KEY_NAME_RE,
    RSA_KEY_SIZE,
    ProviderKeyVersion,
    b64url,
    check_alg,
    check_name,
)


def _int_bytes(value: int, length: int | None = None) -> bytes:
    return value.to_bytes(length or (value.bit_length() + 7) // 8, "big")


class _Version:
    def __init__(self, info: ProviderKeyVersion, private: object) -> None:
        self.info = info
        self.private = private


class MemoryProviderKeyStore:
    """ProviderKeyStore in memory. ``disable`` stands in for disabling a version in the portal."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._keys: dict[str, list[_Version]] = {}

    def _new(self, name: str, alg: str) -> _Version:
        private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if alg == "RS384":
            private = rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
            numbers = rsa_key.public_key().public_numbers()
            jwk = {"kty": "RSA", "n": b64url(_int_bytes(numbers.n)), "e": b64url(_int_bytes(numbers.e))}
        else:
            private = ec_key = ec.generate_private_key(ec.SECP384R1())
            point = ec_key.public_key().public_numbers()
            jwk = {"kty": "EC", "crv": "P-384", "x": b64url(_int_bytes(point.x, 48)),
                   "y": b64url(_int_bytes(point.y, 48))}
        info = ProviderKeyVersion(name=name, version=uuid.uuid4().hex, alg=alg, public_jwk=jwk,
                                  created_on=self._clock.now())
        return _Version(info, private)

    async def create(self, name: str, alg: str, *, tags: dict[str, str] | None = None) -> ProviderKeyVersion:
        check_name(name)
        check_alg(alg)
        if name in self._keys:
            raise AlreadyExists(f"key {name}")
        version = self._new(name, alg)
        self._keys[name] = [version]
        return version.info

    async def rotate(self, name: str) -> ProviderKeyVersion:
        found = self._keys.get(name)
        if not found:
            raise NotFound(f"key {name}")
        version = self._new(name, found[-1].info.alg)
        found.append(version)
        return version.info

    async def versions(self, name: str) -> list[ProviderKeyVersion]:
        if not isinstance(name, str) or not KEY_NAME_RE.match(name):
            return []
        return [v.info for v in self._keys.get(name, [])]

    async def names(self) -> list[str]:
        return list(self._keys)

    async def sign(self, name: str, version: str, alg: str, digest: bytes) -> bytes:
        found = next((v for v in self._keys.get(name, []) if v.info.version == version), None)
        if found is None or not found.info.enabled or found.info.alg != alg:
            raise NotFound(f"key {name} version")
        prehashed = utils.Prehashed(hashes.SHA384())
        if isinstance(found.private, rsa.RSAPrivateKey):
            return found.private.sign(digest, padding.PKCS1v15(), prehashed)
        assert isinstance(found.private, ec.EllipticCurvePrivateKey)
        r, s = utils.decode_dss_signature(found.private.sign(digest, ec.ECDSA(prehashed)))
        return _int_bytes(r, 48) + _int_bytes(s, 48)

    def disable(self, name: str, version: str) -> None:
        for item in self._keys.get(name, []):
            if item.info.version == version:
                item.info = replace(item.info, enabled=False)

    def age(self, seconds: float) -> None:
        """Move every version's creation time ``seconds`` back, as if that much time had passed (tests against
        a provider that checks assertion times on the real clock)."""
        for versions in self._keys.values():
            for item in versions:
                item.info = replace(item.info, created_on=item.info.created_on - timedelta(seconds=seconds))

    async def aclose(self) -> None:
        return None
