"""A client's public keys: JSON Web Key Sets (RFC 7517 §5) for ``private_key_jwt`` client
authentication (RFC 7523 §3, SMART App Launch 2.x "Backend Services": "Registering a client").

What the gateway accepts, for an inline JWKS given to the admin API and for one fetched from
a client's JWKS URL alike:

- ``{"keys": [...]}`` with 1 to :data:`MAX_KEYS` keys, each with a unique, non-empty ``kid``
  (an assertion names its key by ``kid``);
- only public keys: a key holding a private member (``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``,
  ``oth``) or a symmetric secret (``k``) is an error naming the member, never its value;
- ``kty`` ``RSA`` with a modulus of 2048 to 8192 bits and a public exponent of at most 32 bits,
  or ``EC`` on ``P-256`` or ``P-384`` (the point must be on the curve);
- ``use``, when present, ``sig``; ``key_ops``, when present, including ``verify``; ``alg``,
  when present, an algorithm the gateway may verify with the key (RS384 or RS256 for RSA,
  ES256 for P-256, ES384 for P-384): it then pins the key to that algorithm.

:func:`validate_public_jwks` lists every problem (admin input: 422); :func:`parse_public_jwks`
gives the usable keys. A fetched set is read leniently (``strict=False``): keys of other
types or uses are skipped, but a private member still refuses the whole set, since a client
publishing private keys has lost them.

pyjwt and cryptography are imported when a key is read: the admin function imports this module for its
rules, and few of its requests carry a JWKS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

MAX_KEYS = 20
MAX_KID_LENGTH = 256
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
MAX_RSA_EXPONENT_BITS = 32
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
"""RFC 7518 §6.3.2 (RSA private), §6.2.2 (EC private), §6.4.1 (symmetric ``k``)."""
CURVE_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384"}
RSA_ALGORITHMS = frozenset({"RS256", "RS384"})


class JwksError(ValueError):
    """The JWKS is not acceptable; ``problems`` are safe to show (they name members, never values)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class PublicKey:
    """One usable verification key of a client."""

    kid: str
    kty: str  # "RSA" or "EC"
    curve: str | None  # "P-256" / "P-384" for EC
    alg: str | None  # the JWK's ``alg`` when it declares one
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey

    def __repr__(self) -> str:
        return f"PublicKey(kid={self.kid!r}, kty={self.kty!r}, curve={self.curve!r}, alg={self.alg!r})"


@dataclass(frozen=True)
class ClientKeys:
    """A client's usable keys by ``kid``."""

    keys: Mapping[str, PublicKey]

    def get(self, kid: str) -> PublicKey | None:
        return self.keys.get(kid) if isinstance(kid, str) else None

    def __len__(self) -> int:
        return len(self.keys)


def _private_members(index: int, jwk: Any) -> list[str]:
    if not isinstance(jwk, dict):
        return []
    return [f"keys[{index}] contains the private member '{m}': give public keys only"
            for m in PRIVATE_MEMBERS if m in jwk]


def _key_problems(index: int, jwk: object) -> tuple[list[str], PublicKey | None]:
    """Problems of one public JWK and the key when it is usable."""
    where = f"keys[{index}]"
    if not isinstance(jwk, dict):
        return [f"{where} must be a JSON object"], None
    kid = _usable_kid(jwk)
    problems: list[str] = []
    if kid is None:
        problems.append(f"{where}.kid must be a non-empty printable string of at most {MAX_KID_LENGTH} characters")
    problems.extend(_use_problems(where, jwk))
    alg = jwk.get("alg")
    if alg is not None and not isinstance(alg, str):
        problems.append(f"{where}.alg must be a string")
        alg = None
    kty = jwk.get("kty")
    curve: str | None = None
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None = None
    if kty == "RSA":
        key = _rsa_key(where, jwk, alg, problems)
    elif kty == "EC":
        curve, key = _ec_key(where, jwk, alg, problems)
    else:
        problems.append(f"{where}.kty must be RSA or EC")
    if problems or kid is None or key is None:
        return problems, None
    kty = "RSA" if kty == "RSA" else "EC"  # a key was read: one of the two
    return [], PublicKey(kid=kid, kty=kty, curve=curve, alg=alg, key=key)


def _usable_kid(jwk: dict[str, object]) -> str | None:
    """The key's ``kid`` when it is a non-empty printable string of at most :data:`MAX_KID_LENGTH` characters."""
    kid = jwk.get("kid")
    if isinstance(kid, str) and kid and len(kid) <= MAX_KID_LENGTH and kid.isprintable():
        return kid
    return None


def _use_problems(where: str, jwk: dict[str, object]) -> list[str]:
    """``use`` (RFC 7517 §4.2) and ``key_ops`` (§4.3), when present, must allow verifying signatures."""
    problems: list[str] = []
    if "use" in jwk and jwk["use"] != "sig":
        problems.append(f"{where}.use must be 'sig'")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        problems.append(f"{where}.key_ops must include 'verify'")
    return problems


def _rsa_key(where: str, jwk: dict[str, object], alg: str | None, problems: list[str]) -> rsa.RSAPublicKey | None:
    """The RSA public key (RFC 7518 §6.3.1) of ``jwk``; what is wrong with it is added to ``problems``."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm
    from jwt.exceptions import InvalidKeyError

    if alg is not None and alg not in RSA_ALGORITHMS:
        problems.append(f"{where}.alg must be RS384 or RS256 for an RSA key")
    try:
        key = RSAAlgorithm.from_jwk(json.dumps({"kty": "RSA", "n": jwk.get("n"), "e": jwk.get("e")}))
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        key = None
    if not isinstance(key, rsa.RSAPublicKey):  # without "d" it is never a private key
        problems.append(f"{where} is not a valid RSA public key (n and e, base64url)")
        return None
    if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
        problems.append(f"{where} must be an RSA key of {MIN_RSA_BITS} to {MAX_RSA_BITS} bits")
    if key.public_numbers().e.bit_length() > MAX_RSA_EXPONENT_BITS:
        problems.append(f"{where}.e must be at most {MAX_RSA_EXPONENT_BITS} bits")
    return key


def _ec_key(where: str, jwk: dict[str, object], alg: str | None,
            problems: list[str]) -> tuple[str | None, ec.EllipticCurvePublicKey | None]:
    """The curve and EC public key (RFC 7518 §6.2.1) of ``jwk``; what is wrong with it is added to ``problems``."""
    crv = jwk.get("crv")
    curve = crv if isinstance(crv, str) else None
    if curve not in CURVE_ALGORITHMS:
        problems.append(f"{where}.crv must be P-256 or P-384")
        return curve, None
    if alg is not None and alg != CURVE_ALGORITHMS[curve]:
        problems.append(f"{where}.alg must be {CURVE_ALGORITHMS[curve]} for a {curve} key")
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm
    from jwt.exceptions import InvalidKeyError

    try:
        key = ECAlgorithm.from_jwk(json.dumps({"kty": "EC", "crv": curve, "x": jwk.get("x"), "y": jwk.get("y")}))
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):  # without "d" it is never a private key
        problems.append(f"{where} is not a valid EC public key (x and y on the curve, base64url)")
        return curve, None
    return curve, key


def _read(document: Any) -> tuple[list[str], list[PublicKey], list[str]]:
    """(fatal problems, usable keys, problems of single keys) of a JWKS document."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return ["the JWKS is not JSON"], [], []
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        return ["the JWKS must be a JSON object with a 'keys' array"], [], []
    raw = document["keys"]
    if not raw:
        return ["the JWKS has no keys"], [], []
    if len(raw) > MAX_KEYS:
        return [f"the JWKS has more than {MAX_KEYS} keys"], [], []
    fatal: list[str] = []
    per_key: list[str] = []
    keys: list[PublicKey] = []
    for index, jwk in enumerate(raw):
        private = _private_members(index, jwk)
        if private:
            fatal.extend(private)
            continue
        problems, key = _key_problems(index, jwk)
        per_key.extend(problems)
        if key is not None:
            keys.append(key)
    kids = [k.kid for k in keys]
    duplicates = sorted({kid for kid in kids if kids.count(kid) > 1})
    if duplicates:
        fatal.append("the JWKS repeats a kid: every key needs its own")
    return fatal, keys, per_key


def validate_public_jwks(document: Any) -> list[str]:
    """Every problem of a JWKS given to the admin API; empty when it is acceptable."""
    fatal, _, per_key = _read(document)
    return fatal + per_key


def parse_public_jwks(document: Any, *, strict: bool = True) -> ClientKeys:
    """The usable keys of a JWKS; :class:`JwksError` when it is not acceptable.

    ``strict`` (admin input): any problem is an error. Not strict (a fetched set): keys that
    cannot be used are skipped, but private members, repeated kids or no usable key are errors.
    """
    fatal, keys, per_key = _read(document)
    if fatal or (strict and per_key):
        raise JwksError(fatal + (per_key if strict else []))
    if not keys:
        raise JwksError(["the JWKS has no usable signature key (RSA of 2048 bits or more, EC P-256 or P-384)"])
    return ClientKeys(MappingProxyType({key.kid: key for key in keys}))
