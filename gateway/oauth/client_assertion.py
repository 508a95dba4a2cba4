"""``private_key_jwt`` client authentication: JWT client assertions, RFC 7523 §2.2 and §3
(https://www.rfc-editor.org/rfc/rfc7523#section-3), as SMART App Launch 2.x "Backend
Services" profiles them (https://hl7.org/fhir/smart-app-launch/backend-services.html).

The token request carries ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``
and ``client_assertion=<JWT>``; ``client_id`` may be sent too and must then name the
assertion's issuer. The assertion is accepted when (RFC 7523 §3, SMART "Authenticating to the
token endpoint"):

1. its header names a ``kid`` of the client's JWKS and an ``alg`` that key may use: the
   algorithm comes from the key and the allow-list (RS384, ES384; RS256 and ES256 only when
   ``allow_sha256``), never from the token alone; ``none`` and HMAC are never accepted, nor a
   ``crit`` header, and ``jwk``/``jku``/``x5u``/``x5c`` headers are never used to find a key;
2. the signature verifies with that key (the compact JWS is split and decoded here, RFC 7515
   §7.1, a JSON object repeating a member name refused; the signature is checked by pyjwt's
   algorithm objects on cryptography keys);
3. ``iss`` = ``sub`` = the client id (item 1, 2);
4. ``aud`` is the token endpoint URL, or a list containing it (item 3);
5. ``exp`` is present, not in the past and at most ``max_lifetime_seconds`` (5 minutes) ahead
   (item 4; SMART: "no more than five minutes in the future"); ``nbf`` and ``iat``, when
   present, not in the future; each with ``leeway_seconds`` for clock skew;
6. ``jti`` is present and was never used by this client within its lifetime (item 7; the
   shared :class:`~gateway.stores.replay.ReplayStore` remembers it until ``exp`` + leeway).
   It is recorded last, so an assertion refused for any other reason does not use it up.

Every refusal is ``invalid_client`` (RFC 6749 §5.2; RFC 7523 §3.2) with a fixed description
per reason, never echoing the assertion or its claims; ``reason`` names it for logs. A
replay store that cannot be reached raises ``StoreUnavailable`` (the endpoint answers 503):
the assertion is then neither accepted nor held against the client.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from gateway.clock import Clock, SystemClock
from gateway.oauth.assertion_names import (  # noqa: F401 - re-exported
    PREFERRED_ALGORITHMS,
    PRIVATE_KEY_JWT,
    SHA256_ALGORITHMS,
    signing_algorithms,
)
from gateway.oauth.errors import InvalidClient, InvalidRequest
from gateway.oauth.jwks import CURVE_ALGORITHMS, ClientKeys, PublicKey
from gateway.stores.replay import ReplayStore

if TYPE_CHECKING:
    from jwt.algorithms import Algorithm

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LENGTH = 8192
MAX_JTI_LENGTH = 1024
MAX_CLIENT_ID_LENGTH = 128
DEFAULT_LEEWAY_SECONDS = 30.0
MAX_LIFETIME_SECONDS = 300.0

REASONS: Mapping[str, str] = {
    "malformed": "the client assertion is not a well-formed signed JWT",
    "algorithm": "the client assertion's algorithm is not allowed for its key",
    "unknown-key": "the client assertion's kid does not name a key of the client",
    "keys-unavailable": "the client's keys could not be retrieved",
    "signature": "the client assertion's signature is invalid",
    "issuer": "the client assertion's iss and sub must both be the client id",
    "audience": "the client assertion's aud must be the token endpoint URL",
    "expired": "the client assertion is expired",
    "lifetime": "the client assertion's exp is more than five minutes ahead",
    "not-yet-valid": "the client assertion is not valid yet",
    "jti": "the client assertion needs a jti",
    "replayed": "the client assertion was already used",
}


class AssertionRejected(InvalidClient):
    """``invalid_client`` for a refused client assertion; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(REASONS[reason])
        self.reason = reason


class KeysUnavailable(Exception):
    """A key source could not get the client's keys (its JWKS URL failed); message safe to log."""


class KeySource(Protocol):
    async def key(self, kid: str) -> PublicKey | None:
        """The client's key named ``kid``, None when the client has none by that name."""


class InlineKeys:
    """The keys of a JWKS stored with the client record."""

    def __init__(self, keys: ClientKeys) -> None:
        self._keys = keys

    async def key(self, kid: str) -> PublicKey | None:
        return self._keys.get(kid)


@dataclass(frozen=True)
class ClientAssertion:
    """A client assertion taken from the token request; ``client_id`` is its unverified ``iss``; ``jws`` the
    assertion as decoded to read it (verification then decodes nothing again)."""

    assertion: str
    client_id: str
    jws: CompactJws | None = field(default=None, compare=False)

    @property
    def method(self) -> str:
        """The client authentication method (``gateway.oauth.client_auth.METHODS``)."""
        return PRIVATE_KEY_JWT

    def __repr__(self) -> str:  # never print the assertion
        return f"ClientAssertion(client_id={self.client_id!r})"


@dataclass(frozen=True)
class VerifiedAssertion:
    client_id: str
    jti: str
    kid: str
    algorithm: str
    expires_at: datetime


_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


@functools.cache
def _verifiers() -> Mapping[str, Algorithm]:
    """pyjwt's signature algorithms the gateway may verify assertions with (imported on the first assertion)."""
    from jwt.algorithms import get_default_algorithms

    return {name: algorithm for name, algorithm in get_default_algorithms().items()
            if name in PREFERRED_ALGORITHMS + SHA256_ALGORITHMS}


class _RepeatedName(Exception):
    pass


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _RepeatedName  # RFC 7515 §5.2 step 4: parsers differ on which repeated name wins
    return document


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url(segment), object_pairs_hook=_unique_names)
    except (ValueError, UnicodeDecodeError, RecursionError, _RepeatedName):
        raise AssertionRejected("malformed") from None
    if not isinstance(value, dict):
        raise AssertionRejected("malformed")
    return value


def _b64url(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise AssertionRejected("malformed") from None


@dataclass(frozen=True)
class CompactJws:
    """A JWS in compact serialization (RFC 7515 §7.1), decoded but not verified."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_compact_jws(token: str) -> CompactJws:
    """Split and decode ``header.payload.signature`` (JSON objects, base64url without padding)."""
    if not isinstance(token, str) or len(token) > MAX_ASSERTION_LENGTH:
        raise AssertionRejected("malformed")
    segments = token.split(".")
    if len(segments) != 3 or not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise AssertionRejected("malformed")
    header, payload, signature = segments
    return CompactJws(header=_json_object(header), payload=_json_object(payload),
                      signing_input=f"{header}.{payload}".encode("ascii"), signature=_b64url(signature))


def _unverified_issuer(jws: CompactJws) -> str:
    issuer = jws.payload.get("iss")
    if not isinstance(issuer, str) or not issuer or len(issuer) > MAX_CLIENT_ID_LENGTH or not issuer.isprintable():
        raise AssertionRejected("issuer")
    return issuer


def read_client_assertion(form: Mapping[str, str], *, authorization_header: bool = False) -> ClientAssertion | None:
    """The client assertion of a token request, None when it uses no assertion.

    RFC 6749 §2.3: one authentication method per request, so an assertion together with a
    ``client_secret`` or an ``Authorization`` header is ``invalid_request``.
    """
    assertion_type = form.get("client_assertion_type")
    assertion = form.get("client_assertion")
    if assertion_type is None and assertion is None:
        return None
    if assertion_type != CLIENT_ASSERTION_TYPE:
        raise InvalidRequest("client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    if not assertion:
        raise InvalidRequest("client_assertion is missing")
    if "client_secret" in form or authorization_header:
        raise InvalidRequest("use exactly one client authentication method")
    if len(assertion) > MAX_ASSERTION_LENGTH:
        raise AssertionRejected("malformed")
    jws = parse_compact_jws(assertion)
    issuer = _unverified_issuer(jws)
    named = form.get("client_id")
    if named is not None and named != issuer:
        raise AssertionRejected("issuer")
    return ClientAssertion(assertion=assertion, client_id=issuer, jws=jws)


def _number(value: Any) -> float | None:
    """A finite JSON number as a float; None for anything else (NaN, Infinity, 10**400, true, "1")."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


class ClientAssertionVerifier:
    """Verifies client assertions for one token endpoint (see the module docstring for the rules)."""

    def __init__(self, *, token_url: str | Iterable[str], replay: ReplayStore, clock: Clock | None = None,
                 allow_sha256: bool = False, leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
                 max_lifetime_seconds: float = MAX_LIFETIME_SECONDS) -> None:
        """``token_url``: the token endpoint's URL as clients address it (several if it has aliases)."""
        urls = (token_url,) if isinstance(token_url, str) else tuple(token_url)
        if not urls or not all(isinstance(u, str) and u for u in urls):
            raise ValueError("token_url must name the token endpoint")
        self._audiences = frozenset(urls)
        self._replay = replay
        self._clock = clock or SystemClock()
        self._algorithms = signing_algorithms(allow_sha256)
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds

    @property
    def algorithms(self) -> tuple[str, ...]:
        return self._algorithms

    def algorithm_for(self, key: PublicKey, requested: object) -> str | None:
        """The algorithm to verify with: the one the token asks for if the key and the allow-list permit it."""
        if not isinstance(requested, str) or requested not in self._algorithms:
            return None  # none, HS*, PS*, EdDSA, anything not allowed
        if key.alg is not None and key.alg != requested:
            return None  # the JWK pins its algorithm
        if key.kty == "RSA":
            return requested if requested.startswith("RS") else None
        if key.kty == "EC":
            return requested if CURVE_ALGORITHMS.get(key.curve or "") == requested else None
        return None

    async def verify(self, assertion: ClientAssertion | str, client_id: str, keys: KeySource) -> VerifiedAssertion:
        """The verified assertion of ``client_id`` (whose keys ``keys`` gives); AssertionRejected otherwise."""
        if isinstance(assertion, ClientAssertion):
            jws = assertion.jws or parse_compact_jws(assertion.assertion)
        else:
            jws = parse_compact_jws(assertion)
        header = jws.header
        if "crit" in header:  # RFC 7515 §4.1.11: no extension is understood here
            raise AssertionRejected("malformed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AssertionRejected("malformed")
        requested = header.get("alg")
        if not isinstance(requested, str) or requested not in self._algorithms:  # none and HS* never are
            raise AssertionRejected("algorithm")
        try:
            key = await keys.key(kid)
        except KeysUnavailable:
            raise AssertionRejected("keys-unavailable") from None
        if key is None:
            raise AssertionRejected("unknown-key")
        algorithm = self.algorithm_for(key, requested)
        if algorithm is None:
            raise AssertionRejected("algorithm")
        try:
            valid = _verifiers()[algorithm].verify(jws.signing_input, key.key, jws.signature)
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise AssertionRejected("signature")
        claims = jws.payload
        expires_at = self._check_claims(claims, client_id)
        jti = claims["jti"]
        if not await self._replay.use_once(client_id, jti, expires_at + timedelta(seconds=self._leeway)):
            raise AssertionRejected("replayed")
        return VerifiedAssertion(client_id=client_id, jti=jti, kid=kid, algorithm=algorithm, expires_at=expires_at)

    def _check_claims(self, claims: dict[str, Any], client_id: str) -> datetime:
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise AssertionRejected("issuer")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not any(isinstance(a, str) and a in self._audiences for a in audiences):
            raise AssertionRejected("audience")
        now = self._clock.now()
        now_ts = now.timestamp()
        exp = _number(claims.get("exp"))
        if exp is None:
            raise AssertionRejected("malformed")
        if exp <= now_ts - self._leeway:
            raise AssertionRejected("expired")
        if exp > now_ts + self._max_lifetime + self._leeway:
            raise AssertionRejected("lifetime")
        for name in ("nbf", "iat"):
            if name in claims:
                value = _number(claims[name])
                if value is None:
                    raise AssertionRejected("malformed")
                if value > now_ts + self._leeway:
                    raise AssertionRejected("not-yet-valid")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise AssertionRejected("jti")
        return now + timedelta(seconds=exp - now_ts)
