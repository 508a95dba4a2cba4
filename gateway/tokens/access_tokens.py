"""Access tokens: JWTs in the RFC 9068 shape, signed with the key ring's active key, and their verification.

Header (RFC 9068 §2.1): ``alg`` ES256, ``typ`` ``at+jwt``, ``kid``.
Claims (RFC 9068 §2.2): ``iss`` = PUBLIC_BASE_URL, ``aud`` = TOKEN_AUDIENCE (the FHIR base URL),
``sub`` and ``client_id`` = the client, ``tid`` = the tenant GUID (lowercase), ``scope`` = the
tenant GUID alone (a tenant-only request: the client's allowed SMART scopes at each use) or followed
by the granted SMART v2 system scopes (``gateway.scopes.ScopeGrant.scope``), ``iat``, ``nbf``,
``exp``, ``jti``.

Verification (RFC 9068 §4, RFC 8725 §3.1-3.2) accepts only what this gateway
issues: the one signing algorithm (so ``alg: none`` and HS256-keyed-with-the-
public-key confusion are refused before any key is used), a kid published by
the key ring, the signature, ``iss``, ``aud``, ``exp``/``nbf``/``iat`` with a
small leeway, every required claim, a canonical tenant GUID in ``tid`` and the same GUID first in
``scope``, followed by nothing or by v2 system scopes in exactly the form the gateway writes them
(``gateway.scopes.grant_from_claim``). Each token has exactly one accepted encoding (RFC 7515
§7.1, §2 base64url "with all trailing '=' characters omitted"): three
base64url segments and nothing else (no padding, no white space), each in its
canonical form (no non-zero trailing bits), and a low-S signature, which the
signer also emits (``gateway.tokens.keys.low_s_signature``). :class:`InvalidToken`
carries a description that is safe to show the caller (RFC 6750 §3 ``error_description``): it never echoes the
token or its claims.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypedDict

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gateway.clock import Clock
from gateway.config import Settings
from gateway.scopes import SmartScopes, grant_from_claim
from gateway.stores.models import canonical_tenant_id
from gateway.tokens.keyring import LEEWAY_SECONDS
from gateway.tokens.keys import ALGORITHM, SigningKey, is_canonical_signature, low_s_signature

TOKEN_TYPE = "at+jwt"
MAX_TOKEN_LENGTH = 4096
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
REQUIRED_CLAIMS = ("iss", "aud", "sub", "client_id", "scope", "tid", "iat", "nbf", "exp", "jti")


class InvalidToken(Exception):
    """The access token is not acceptable; ``description`` is safe to return (RFC 6750 §3)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class AccessTokenPayload(TypedDict):
    """The claims the gateway signs (RFC 9068 §2.2), in the order it writes them."""

    iss: str
    aud: str
    sub: str
    client_id: str
    scope: str
    tid: str
    iat: int
    nbf: int
    exp: int
    jti: str


@dataclass(frozen=True)
class AccessTokenClaims:
    client_id: str
    tenant_id: str
    scope: str
    jti: str
    issued_at: datetime
    expires_at: datetime
    smart_scopes: SmartScopes | None = None
    """The granted SMART scopes; None for a tenant-only token (the client's allowed scopes apply)."""


@dataclass(frozen=True)
class IssuedToken:
    """A freshly signed token and what the token response (RFC 6749 §5.1) says about it."""

    access_token: str
    expires_in: int
    scope: str
    claims: AccessTokenClaims
    token_type: str = "Bearer"

    def __repr__(self) -> str:  # never print the token itself
        return f"IssuedToken(client_id={self.claims.client_id!r}, scope={self.scope!r}, jti={self.claims.jti!r})"


class SigningKeys(Protocol):
    """Where the active signing key comes from (``gateway.tokens.keyring.KeyRing``)."""

    async def signing_key(self) -> SigningKey: ...


class VerificationKeys(Protocol):
    """Where a published key's public half comes from, by the ``kid`` a token names (``KeyRing``)."""

    async def verification_key(self, kid: object) -> ec.EllipticCurvePublicKey | None: ...


class TokenIssuer:
    """Signs access tokens with the active key of ``keys``; ``iss``, ``aud`` and lifetime from ``settings``."""

    def __init__(self, keys: SigningKeys, *, settings: Settings, clock: Clock) -> None:
        self._keys = keys
        self._settings = settings
        self._clock = clock

    async def issue(self, *, client_id: str, tenant_id: str, scope: str | None = None) -> IssuedToken:
        """Sign an access token for ``client_id`` scoped to ``tenant_id`` (already canonical and authorised).

        ``scope``: the claim, the tenant alone by default, else ``ScopeGrant.scope`` (the tenant, then v2 scopes).
        """
        scope = scope or tenant_id
        smart = _smart_scopes(scope, tenant_id)
        settings = self._settings
        key = await self._keys.signing_key()
        now = int(self._clock.now().timestamp())
        expires = now + settings.token_lifetime_seconds
        jti = secrets.token_urlsafe(16)
        payload: AccessTokenPayload = {
            "iss": settings.issuer, "aud": settings.token_audience, "sub": client_id, "client_id": client_id,
            "scope": scope, "tid": tenant_id, "iat": now, "nbf": now, "exp": expires, "jti": jti,
        }
        token = _signed(payload, key.private_key, key.kid)
        claims = AccessTokenClaims(client_id=client_id, tenant_id=tenant_id, scope=scope, jti=jti,
                                   issued_at=datetime.fromtimestamp(now, UTC),
                                   expires_at=datetime.fromtimestamp(expires, UTC), smart_scopes=smart)
        return IssuedToken(access_token=token, expires_in=settings.token_lifetime_seconds, scope=scope,
                           claims=claims)


@functools.lru_cache(maxsize=64)
def _header_segment(kid: str) -> str:
    """The encoded JOSE header for ``kid`` as pyjwt writes it (sorted keys, no white space), built once per key."""
    header = {"alg": ALGORITHM, "kid": kid, "typ": TOKEN_TYPE}
    return _b64(json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8"))


def _signed(payload: AccessTokenPayload, private_key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    """The compact JWS (RFC 7515 §7.1) of ``payload``: ES256 (RFC 7518 §3.4, R || S) in its low-S form.

    The same bytes as ``low_s_jws(jwt.encode(...))`` up to the (random) signature, without pyjwt's
    per-call header validation and DER round trips: the header segment is built once per key.
    """
    body = _b64(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    signing_input = f"{_header_segment(kid)}.{body}"
    r, s = decode_dss_signature(private_key.sign(signing_input.encode("ascii"), _ECDSA_SHA256))
    return f"{signing_input}.{_b64(low_s_signature(r.to_bytes(32, 'big') + s.to_bytes(32, 'big')))}"


def _smart_scopes(scope: object, tenant: str) -> SmartScopes | None:
    """The SMART scopes a ``scope`` claim grants after ``tenant`` (None: the tenant alone); ValueError if malformed."""
    if scope == tenant:
        return None
    grant = grant_from_claim(scope)
    if grant.tenant != tenant:
        raise ValueError("the scope claim names another tenant")
    return grant.scopes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_segment(segment: str) -> bytes:
    """The bytes of a canonical unpadded base64url segment (RFC 7515 §2); ValueError for any other spelling.

    Canonical means the one string that encodes these bytes: only the base64url alphabet, no padding, no
    white space, no non-zero trailing bits (checked by encoding the bytes again).
    """
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None
    if _b64(data) != segment:
        raise ValueError("non-canonical base64url")
    return data


def _check_encoding(token: str) -> None:
    """Exactly one encoding per token: three canonical base64url segments and a low-S signature."""
    try:
        segments = [decode_segment(segment) for segment in token.split(".")]
    except ValueError:
        raise InvalidToken("malformed access token") from None
    if not is_canonical_signature(segments[2]):
        raise InvalidToken("invalid token signature")


def _header(token: str) -> dict[str, object]:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise InvalidToken("malformed access token")
    import jwt  # the verifier's alone: the token endpoint signs without pyjwt

    try:
        header = jwt.get_unverified_header(token)  # refuses any "crit" header too (RFC 7515 §4.1.11)
    except jwt.PyJWTError:
        raise InvalidToken("malformed access token") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("unsupported token signing algorithm")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in (TOKEN_TYPE, f"application/{TOKEN_TYPE}"):
        raise InvalidToken("not an access token (typ must be at+jwt)")
    _check_encoding(token)
    return header


_MAX_NUMERIC_DATE = 253_402_300_800  # 10000-01-01T00:00:00Z: later (or NaN, infinite) fits no datetime


def _number(claims: Mapping[str, object], name: str) -> int:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < _MAX_NUMERIC_DATE:
        raise InvalidToken(f"claim {name} must be a number")
    return int(value)


class TokenVerifier:
    """Verifies access tokens this gateway issued, with the published keys of ``keys`` (see the module docstring)."""

    def __init__(self, keys: VerificationKeys, *, settings: Settings, clock: Clock) -> None:
        self._keys = keys
        self._settings = settings
        self._clock = clock

    async def verify(self, token: str) -> AccessTokenClaims:
        """The token's claims; InvalidToken with a safe description when it is not acceptable.

        May raise :class:`gateway.stores.errors.StoreUnavailable` when no signing key
        set is cached and Key Vault cannot be reached (answer 503, not 401).
        """
        import jwt

        settings = self._settings
        header = _header(token)
        kid = header.get("kid")
        key = await self._keys.verification_key(kid)  # None for a kid not of the gateway's shape too
        if key is None:
            raise InvalidToken("unknown or retired signing key")
        try:
            claims = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=settings.token_audience, issuer=settings.issuer,
                options={"require": list(REQUIRED_CLAIMS), "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False})
        except jwt.InvalidSignatureError:
            raise InvalidToken("invalid token signature") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("token audience is not this server") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("token issuer is not this server") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"token lacks the {exc.claim} claim") from None
        except jwt.PyJWTError:
            raise InvalidToken("malformed access token") from None
        return _checked_claims(claims, self._clock.now().timestamp())


def _checked_claims(claims: dict[str, object], now: float) -> AccessTokenClaims:
    """The claims of a token whose signature, ``iss`` and ``aud`` verified: times, tenant, scope and subject."""
    expires, not_before, issued = _number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat")
    if now >= expires + LEEWAY_SECONDS:
        raise InvalidToken("token expired")
    if now < not_before - LEEWAY_SECONDS or now < issued - LEEWAY_SECONDS:
        raise InvalidToken("token not yet valid")
    tenant = claims["tid"]
    if not isinstance(tenant, str) or canonical_tenant_id(tenant) != tenant:
        raise InvalidToken("token scope is not a tenant")
    scope = claims["scope"]
    try:
        if not isinstance(scope, str):
            raise ValueError("the scope claim must be a string")
        smart = _smart_scopes(scope, tenant)
    except ValueError:
        raise InvalidToken("token scope is not a tenant and SMART scopes") from None
    client_id, jti = claims["client_id"], claims["jti"]
    if (not isinstance(client_id, str) or not client_id or claims["sub"] != client_id
            or not isinstance(jti, str) or not jti):
        raise InvalidToken("token subject is invalid")
    return AccessTokenClaims(client_id=client_id, tenant_id=tenant, scope=scope, jti=jti,
                             issued_at=datetime.fromtimestamp(issued, UTC),
                             expires_at=datetime.fromtimestamp(expires, UTC), smart_scopes=smart)
