"""Entra ID access tokens for the admin API, verified by the app itself (RFC 6750, RFC 7519, RFC 7517).

The issuer and its signing keys come from the configured authority only:
``<ADMIN_AUTH_AUTHORITY>/.well-known/openid-configuration`` (OpenID Connect
Discovery 1.0 §4: its ``issuer`` must equal the authority, §4.3) and the
``jwks_uri`` it names. A token is accepted when

- its header says RS256 and names a ``kid`` of that JWKS (the algorithm is
  fixed here, never taken from the token: ``none``, HS256 keyed with the public
  key or any other algorithm is refused);
- the RS256 signature verifies with that RSA key;
- ``iss`` equals the discovered issuer exactly (one tenant, v2.0 tokens: the
  v1.0 issuer ``https://sts.windows.net/<tenant>/`` is another string and is
  refused), ``aud`` equals ``ADMIN_AUTH_AUDIENCE``, ``exp`` and ``nbf`` hold
  within :data:`LEEWAY_SECONDS`;
- ``roles`` holds ``ADMIN_REQUIRED_ROLE`` (else 403, the token being valid).

User tokens (``scp``, ``preferred_username``/``upn``) and app-only tokens
(``idtyp: app``, ``azp``/``appid``) are treated alike: the app role decides.

Keys are cached; a token naming an unknown ``kid`` triggers a new fetch at most
once per :data:`REFETCH_INTERVAL_SECONDS` (key rotation is picked up, a flood of
made-up kids is not a flood of fetches). Fetches are https only (an ``http``
loopback authority is allowed in development), bounded in time and size, and
never follow redirects.

aiohttp and pyjwt are imported on first use: the admin function imports this module for its errors,
and a worker without ``ADMIN_AUTH_AUDIENCE`` never verifies a token.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gateway.clock import Clock, SystemClock
from gateway.config import LOOPBACK_HOSTS, Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from jwt import InvalidTokenError

logger = logging.getLogger("gateway.admin.entra")

ALGORITHM = "RS256"
LEEWAY_SECONDS = 60
REFETCH_INTERVAL_SECONDS = 60.0
KEYS_MAX_AGE_SECONDS = 24 * 3600.0
FETCH_TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_TOKEN_CHARS = 16 * 1024
MIN_RSA_BITS = 2048
MAX_CLAIM_CHARS = 128


class TokenRejected(Exception):
    """The bearer token is missing or not acceptable (401); ``reason`` is a short fixed slug for the audit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RoleMissing(Exception):
    """The token is valid but lacks the required app role (403); ``identity`` is who it names."""

    def __init__(self, identity: EntraIdentity) -> None:
        super().__init__("missing-role")
        self.identity = identity


class IssuerUnavailable(Exception):
    """The authority's discovery document or keys cannot be fetched or make no sense (503)."""


@dataclass(frozen=True)
class EntraIdentity:
    """The verified caller: object id, a readable name (user) or app id (service principal), its roles."""

    object_id: str
    username: str | None
    app_id: str | None
    is_app: bool
    roles: frozenset[str]

    @property
    def label(self) -> str:
        """Audit actor, e.g. ``entra:ops@contoso.com (oid …)`` or ``entra:app <client id> (oid …)``."""
        if self.username and not self.is_app:
            name = self.username
        elif self.app_id:
            name = f"app {self.app_id}"
        else:
            name = self.username or ""
        return f"entra:{name} (oid {self.object_id})" if name else f"entra:oid {self.object_id}"


def _claim_text(claims: dict[str, Any], name: str) -> str | None:
    """A short printable string claim, or None (claims end up in audit records)."""
    value = claims.get(name)
    if not isinstance(value, str) or not value or not value.isprintable():
        return None
    return value[:MAX_CLAIM_CHARS]


def identity_of(claims: dict[str, Any]) -> EntraIdentity:
    """Who a verified token names (Entra access token claims reference)."""
    object_id = _claim_text(claims, "oid") or _claim_text(claims, "sub")
    if object_id is None:
        raise TokenRejected("missing-claim")
    roles = claims.get("roles")
    role_set = frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset()
    app_id = _claim_text(claims, "azp") or _claim_text(claims, "appid")
    is_app = claims.get("idtyp") == "app" or ("scp" not in claims and object_id == _claim_text(claims, "sub"))
    username = _claim_text(claims, "preferred_username") or _claim_text(claims, "upn")
    return EntraIdentity(object_id, username, app_id, is_app, role_set)


def allowed_fetch_url(url: object, *, production: bool) -> bool:
    """https, or http to a loopback host outside production."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    if parts.username or parts.password or not parts.hostname:
        return False
    return parts.scheme == "https" or (not production and parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


async def fetch_json(url: str) -> Any:
    """GET a JSON document: no redirects, :data:`FETCH_TIMEOUT_SECONDS` in all, at most :data:`MAX_DOCUMENT_BYTES`."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(url, allow_redirects=False, headers={"Accept": "application/json"}) as response:
            if response.status != 200:
                raise IssuerUnavailable(f"HTTP {response.status}")
            if (response.content_length or 0) > MAX_DOCUMENT_BYTES:
                raise IssuerUnavailable("document too large")
            body = bytearray()
            async for chunk in response.content.iter_chunked(16384):
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise IssuerUnavailable("document too large")
        return json.loads(bytes(body))
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise IssuerUnavailable(type(exc).__name__) from None


def rsa_keys(jwks: Any) -> dict[str, RSAPublicKey]:
    """The RS256-capable RSA signing keys of a JWKS (RFC 7517 §5), by ``kid``; other keys are skipped."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise IssuerUnavailable("not a JWK set")
    keys: dict[str, RSAPublicKey] = {}
    for jwk in jwks["keys"][:100]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid or jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            key = jwt.PyJWK(jwk, algorithm=ALGORITHM).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        if isinstance(key, RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
            keys[kid] = key
    return keys


def _decode_refusal(error: InvalidTokenError) -> str:
    """What pyjwt's refusal of a signed token means, most specific first (anything else: malformed-token)."""
    import jwt

    refusals: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
        (jwt.InvalidSignatureError, "bad-signature"),
        (jwt.ExpiredSignatureError, "expired"),
        (jwt.ImmatureSignatureError, "not-yet-valid"),
        (jwt.InvalidAudienceError, "wrong-audience"),
        (jwt.InvalidIssuerError, "wrong-issuer"),
        (jwt.MissingRequiredClaimError, "missing-claim"),
    )
    return next((reason for kind, reason in refusals if isinstance(error, kind)), "malformed-token")


def _key_id(token: str) -> str:
    """The ``kid`` of a compact JWS signed with RS256 (RFC 7515 §4.1.4), read before any key is fetched."""
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise TokenRejected("malformed-token")
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise TokenRejected("malformed-token") from None
    if header.get("alg") != ALGORITHM:
        raise TokenRejected("algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        raise TokenRejected("unknown-key")
    return kid


class EntraVerifier:
    """Verifies admin bearer tokens against one authority, audience and app role; keys cached per worker."""

    def __init__(self, authority: str, audience: str, required_role: str, *, production: bool = True,
                 clock: Clock | None = None) -> None:
        self.authority = authority.rstrip("/")
        self.audience = audience
        self.required_role = required_role
        self.production = production
        self.clock = clock or SystemClock()
        self._issuer: str | None = None
        self._jwks_uri: str | None = None
        self._keys: dict[str, RSAPublicKey] = {}
        self._keys_fetched: float | None = None  # monotonic time of the last fetch attempt
        self._keys_loaded: float | None = None  # monotonic time of the last successful fetch
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> EntraVerifier:
        assert settings.admin_auth_authority and settings.admin_auth_audience and settings.admin_required_role
        return cls(settings.admin_auth_authority, settings.admin_auth_audience, settings.admin_required_role,
                   production=settings.is_production, clock=clock)

    async def verify(self, token: str) -> EntraIdentity:
        """The identity of a valid token holding the role; TokenRejected / RoleMissing / IssuerUnavailable."""
        import jwt

        key = await self._key(_key_id(token))
        issuer = self._issuer
        assert issuer is not None
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=self.audience, issuer=issuer,
                                leeway=LEEWAY_SECONDS,
                                options={"require": ["exp", "iss", "aud"], "verify_signature": True})
        except jwt.InvalidTokenError as exc:
            raise TokenRejected(_decode_refusal(exc)) from None
        for name in ("exp", "nbf", "iat"):  # NumericDate (RFC 7519 §2): a number, not a string or a boolean
            value = claims.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise TokenRejected("malformed-token")
        if claims.get("iss") != issuer or claims.get("aud") != self.audience:  # exact strings, one audience
            raise TokenRejected("wrong-issuer" if claims.get("iss") != issuer else "wrong-audience")
        identity = identity_of(claims)
        if self.required_role not in identity.roles:
            raise RoleMissing(identity)
        return identity

    async def _key(self, kid: str) -> RSAPublicKey:
        now = self.clock.monotonic()
        key = self._keys.get(kid)
        fresh = self._keys_loaded is not None and now - self._keys_loaded < KEYS_MAX_AGE_SECONDS
        if key is not None and fresh:
            return key
        async with self._lock:  # one fetch for a burst of requests
            now = self.clock.monotonic()
            fresh = self._keys_loaded is not None and now - self._keys_loaded < KEYS_MAX_AGE_SECONDS
            due = self._keys_fetched is None or now - self._keys_fetched >= REFETCH_INTERVAL_SECONDS
            if due and (kid not in self._keys or not fresh):
                self._keys_fetched = now
                try:
                    await self._refresh()
                    self._keys_loaded = self.clock.monotonic()
                except IssuerUnavailable as exc:
                    logger.warning("admin token keys unavailable authority=%s error=%s", self.authority, exc)
                    if not self._keys:
                        raise
        key = self._keys.get(kid)
        if key is None:
            if not self._keys:  # nothing to verify with: the issuer, not the token, is the problem
                raise IssuerUnavailable("no keys yet")
            raise TokenRejected("unknown-key")
        return key

    async def _refresh(self) -> None:
        if self._issuer is None or self._jwks_uri is None:
            metadata = await fetch_json(f"{self.authority}/.well-known/openid-configuration")
            if not isinstance(metadata, dict):
                raise IssuerUnavailable("discovery document is not an object")
            issuer, jwks_uri = metadata.get("issuer"), metadata.get("jwks_uri")
            if not isinstance(issuer, str) or issuer.rstrip("/") != self.authority or "{" in issuer:
                raise IssuerUnavailable("discovery issuer differs from the authority")
            if not allowed_fetch_url(jwks_uri, production=self.production):
                raise IssuerUnavailable("jwks_uri is not an allowed URL")
            self._issuer, self._jwks_uri = issuer, jwks_uri
        assert self._jwks_uri is not None
        keys = rsa_keys(await fetch_json(self._jwks_uri))
        if not keys:
            raise IssuerUnavailable("no RS256 signing keys")
        self._keys = keys


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (RFC 6750 §2.1), or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None
