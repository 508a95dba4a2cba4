"""Signing keys and assertions for the private_key_jwt tests (generated once per process)."""

from __future__ import annotations

import base64
import functools
import json
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.support.constants import BACKEND_CLIENT_ID as CLIENT_ID
from tests.support.constants import TOKEN_URL


@functools.cache
def rsa_key(name: str = "a", bits: int = 2048) -> rsa.RSAPrivateKey:
    del name
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def ec_key(name: str = "a", curve: str = "P-384") -> ec.EllipticCurvePrivateKey:
    del name
    return ec.generate_private_key({"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(),
                                    "P-521": ec.SECP521R1(), "secp256k1": ec.SECP256K1()}[curve])


def public_jwk(private: Any, kid: str, **extra: Any) -> dict[str, Any]:
    """The public JWK of ``private`` with ``kid`` (and extra members)."""
    algorithm = RSAAlgorithm if isinstance(private, rsa.RSAPrivateKey) else ECAlgorithm
    jwk = algorithm.to_jwk(private.public_key(), as_dict=True)
    return {**jwk, "kid": kid, **extra}


def private_jwk(private: Any, kid: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(private, rsa.RSAPrivateKey) else ECAlgorithm
    return {**algorithm.to_jwk(private, as_dict=True), "kid": kid}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(now: float, **changes: Any) -> dict[str, Any]:
    """A valid assertion's claims at ``now`` (None in ``changes`` removes a claim)."""
    base = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": TOKEN_URL, "exp": int(now) + 240, "iat": int(now),
            "jti": uuid.uuid4().hex}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(private: Any, kid: str | None, payload: dict[str, Any], algorithm: str = "RS384",
         **headers: Any) -> str:
    extra = {**({"kid": kid} if kid is not None else {}), **headers}
    return jwt.encode(payload, private, algorithm=algorithm, headers=extra)


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT with any header and signature bytes (for alg=none and hand-made forgeries)."""
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), b64url(signature)])


def five_minute_private_key_jwt():
    """authlib's ``PrivateKeyJWT`` client authentication, signing assertions valid five minutes (SMART's bound)
    instead of authlib's default hour; imported lazily (authlib is a test dependency of integration tests)."""
    from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

    class FiveMinutePrivateKeyJWT(PrivateKeyJWT):
        def sign(self, auth, token_endpoint):
            return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint,
                                        claims=self.claims, header=dict(self.headers or {}), alg=self.alg,
                                        expires_in=300)

    return FiveMinutePrivateKeyJWT
