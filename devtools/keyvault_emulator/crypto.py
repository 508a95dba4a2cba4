"""Key material of the emulated Keys API: generation, the public JWK, sign and verify of a digest.

Follows Key Vault's key operations
(https://learn.microsoft.com/rest/api/keyvault/keys/sign/sign): the caller
hashes, the vault signs the *digest* with the named algorithm. RSA keys sign
RS256/384/512 (PKCS#1 v1.5, RFC 7518 §3.3) and PS256/384/512 (PSS, §3.5);
EC keys sign ES256 on P-256, ES384 on P-384 and ES512 on P-521 (RFC 7518
§3.4), answering the raw ``r || s`` form a JWS carries (not DER). Public JWK
members are base64url without padding (RFC 7517, RFC 7518 §6). Private keys
stay here: only PEM for the emulator's own state file, never in a response.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

RSA_SIZES = (2048, 3072, 4096)
CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
EC_ALGORITHMS = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class CryptoError(ValueError):
    """The request cannot be carried out with this key (wrong algorithm, digest length, ...)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: Any) -> bytes:
    """Decode base64url (padding optional); anything else is a :class:`CryptoError`."""
    if not isinstance(text, str):
        raise CryptoError("value must be a base64url string")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except ValueError:
        raise CryptoError("value is not valid base64url") from None


def _int_bytes(number: int, length: int | None = None) -> bytes:
    return number.to_bytes(length or max(1, (number.bit_length() + 7) // 8), "big")


@dataclass(frozen=True)
class KeySpec:
    """What a create request asked for: ``kty`` RSA with ``size``, or EC with ``curve``."""

    kty: str
    size: int | None = None
    curve: str | None = None


def generate(spec: KeySpec) -> bytes:
    """A fresh private key of ``spec`` as unencrypted PKCS#8 PEM (the emulator's state file only)."""
    key: PrivateKey
    if spec.kty == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=spec.size or 2048)
    else:
        key = ec.generate_private_key(CURVES[spec.curve or "P-256"])
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CryptoError("unsupported key type in the state file")
    return key


def public_members(key: PrivateKey) -> dict[str, str]:
    """The public JWK members: ``n``/``e`` (RFC 7518 §6.3.1) or ``crv``/``x``/``y`` (§6.2.1)."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"n": b64url(_int_bytes(numbers.n)), "e": b64url(_int_bytes(numbers.e))}
    point = key.public_key().public_numbers()
    name = next(n for n, c in CURVES.items() if c.name == key.curve.name)
    size = (key.curve.key_size + 7) // 8
    return {"crv": name, "x": b64url(_int_bytes(point.x, size)), "y": b64url(_int_bytes(point.y, size))}


def _hash_for(algorithm: str, key: PrivateKey) -> hashes.HashAlgorithm:
    if isinstance(key, rsa.RSAPrivateKey):
        if algorithm not in RSA_ALGORITHMS:
            raise CryptoError(f"Algorithm {algorithm[:20]} is not supported for an RSA key")
    else:
        curve = EC_ALGORITHMS.get(algorithm)
        if curve is None or CURVES[curve].name != key.curve.name:
            raise CryptoError(f"Algorithm {algorithm[:20]} is not supported for this EC key's curve")
    return HASHES[algorithm[2:]]()


def _check_digest(digest: bytes, hash_algorithm: hashes.HashAlgorithm) -> None:
    if len(digest) != hash_algorithm.digest_size:
        raise CryptoError(f"Invalid digest length: {hash_algorithm.name} digests are {hash_algorithm.digest_size} "
                          "bytes")


def _rsa_padding(algorithm: str, hash_algorithm: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    if algorithm.startswith("PS"):
        return padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
    return padding.PKCS1v15()


def sign(key: PrivateKey, algorithm: str, digest: bytes) -> bytes:
    """Sign a precomputed ``digest``; ES* signatures in JWS form ``r || s`` (RFC 7518 §3.4)."""
    hash_algorithm = _hash_for(algorithm, key)
    _check_digest(digest, hash_algorithm)
    prehashed = utils.Prehashed(hash_algorithm)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, _rsa_padding(algorithm, hash_algorithm), prehashed)
    r, s = utils.decode_dss_signature(key.sign(digest, ec.ECDSA(prehashed)))
    size = (key.curve.key_size + 7) // 8
    return _int_bytes(r, size) + _int_bytes(s, size)


def verify(key: PrivateKey, algorithm: str, digest: bytes, signature: bytes) -> bool:
    """True when ``signature`` over ``digest`` is valid for the public half of ``key``."""
    hash_algorithm = _hash_for(algorithm, key)
    _check_digest(digest, hash_algorithm)
    prehashed = utils.Prehashed(hash_algorithm)
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            key.public_key().verify(signature, digest, _rsa_padding(algorithm, hash_algorithm), prehashed)
            return True
        size = (key.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            return False
        der = utils.encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                         int.from_bytes(signature[size:], "big"))
        key.public_key().verify(der, digest, ec.ECDSA(prehashed))
        return True
    except InvalidSignature:
        return False
