"""Signing key material: generation, PEM (de)serialisation and JWK export (RFC 7517, RFC 7518 §6.2).

The gateway signs with ES256 (ECDSA P-256 + SHA-256, RFC 7518 §3.4); see
docs/tokens.md for the measured reasons. Only public parts ever leave this
module as JWKs.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
"""n, the order of the P-256 group (SEC 2 §2.4.2, FIPS 186-4 D.1.2.3)."""
ES256_SIZE = 64  # bytes of an ES256 signature: R || S, 32 bytes each (RFC 7518 §3.4)
KeyStatus = Literal["active", "previous", "retired"]


@dataclass(frozen=True)
class SigningKeyInfo:
    """What administrators see of a key: never the private part."""

    kid: str
    alg: str
    created_on: datetime
    status: KeyStatus
    retire_after: datetime | None = None
    generation: int = 1


@dataclass(frozen=True)
class SigningKey:
    """A private key ready to sign, with its key id and algorithm."""

    kid: str
    alg: str
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


def new_kid(created: datetime) -> str:
    """A fresh key id: creation time (sortable) plus 64 random bits; valid in a Key Vault secret name."""
    return f"{created:%Y%m%d%H%M%S}-{secrets.token_hex(8)}"


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_to_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def private_key_from_pem(pem: str) -> ec.EllipticCurvePrivateKey:
    """Load a PEM private key; ValueError unless it is a P-256 EC key."""
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("signing key is not an EC P-256 private key")
    return key


def _b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode("ascii")


def public_jwk(kid: str, public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The public JWK of an EC P-256 key (RFC 7518 §6.2.1): kty, crv, x, y, plus kid, use, alg."""
    numbers = public_key.public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": _b64(numbers.x), "y": _b64(numbers.y),
            "kid": kid, "use": "sig", "alg": ALGORITHM}


def _r_and_s(raw: bytes) -> tuple[int, int] | None:
    """R and S of an ES256 signature (R || S, 32 bytes each; public values), None for any other length."""
    if len(raw) != ES256_SIZE:
        return None
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")


def low_s_signature(signature: bytes) -> bytes:
    """The low-S form of an ES256 signature (R || S): S replaced by n - S when S > n/2.

    (R, S) and (R, n - S) both verify, so an ECDSA signature has two encodings;
    the gateway emits and accepts only the one with S <= n/2 (the rule of
    BIP 62 and libsecp256k1), so each token has exactly one valid form.
    """
    parts = _r_and_s(signature)
    if parts is None:
        raise ValueError("not an ES256 signature")
    r, s = parts
    return r.to_bytes(32, "big") + min(s, P256_ORDER - s).to_bytes(32, "big")


def low_s_jws(token: str) -> str:
    """A compact ES256 JWS (RFC 7515 §7.1) with its signature in low-S form (the payload is untouched)."""
    head, body, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return f"{head}.{body}.{base64.urlsafe_b64encode(low_s_signature(raw)).rstrip(b'=').decode('ascii')}"


def is_canonical_signature(signature: bytes) -> bool:
    """True for an ES256 signature of 64 bytes whose S is at most n/2 (its low-S form).

    R and S out of range are left to the signature check itself (cryptography refuses them).
    """
    parts = _r_and_s(signature)
    return parts is not None and parts[1] <= P256_ORDER // 2
