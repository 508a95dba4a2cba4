"""Client authentication with a signed JWT assertion: RFC 7523 §2.2 and §3, as SMART Backend Services profile it.

SMART App Launch 2.x, "Client Authentication: Asymmetric (public key)": the
assertion is signed with RS384 or ES384 (never ``none`` or HMAC) by a key named
by ``kid`` in the client's registered JWKS URL; ``iss`` and ``sub`` are the
client id, ``aud`` is this server's token URL, ``exp`` is no more than five
minutes ahead, and ``jti`` is never accepted twice while the assertion could
still be valid. The JWKS is fetched with a bounded size and time, cached, and
fetched again for an unknown ``kid`` (at most once per ``refetch_interval``
per client, so that a flood of made-up ``kid`` values cannot turn this server
into a traffic source). Signatures and claims are verified with PyJWT.

Every failure is an :class:`AssertionRejected` whose text is safe to answer
(it never echoes the assertion).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
KEY_TYPES = {"RS384": ("RSA", None), "ES384": ("EC", "P-384")}
MAX_LIFETIME_SECONDS = 300
CLOCK_SKEW_SECONDS = 10
MAX_JWKS_BYTES = 64 * 1024
MAX_REPLAY_ENTRIES = 100_000

logger = logging.getLogger("devtools.demo_provider.assertions")


class AssertionRejected(Exception):
    """The assertion does not authenticate its client (``invalid_client``, RFC 6749 §5.2)."""


@dataclass
class _Jwks:
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float = float("-inf")


class JwksCache:
    """Each client's public keys by ``kid``, from its JWKS URL (RFC 7517 §5)."""

    def __init__(self, session: Callable[[], aiohttp.ClientSession], *, ttl_seconds: float = 300.0,
                 refetch_interval: float = 5.0, timeout_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._session = session
        self.ttl_seconds, self.refetch_interval, self.timeout_seconds = ttl_seconds, refetch_interval, timeout_seconds
        self._clock = clock
        self._entries: dict[str, _Jwks] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def key(self, client_id: str, url: str, kid: str) -> dict[str, Any] | None:
        """The JWK named ``kid`` in the client's JWKS, fetching it when stale or when ``kid`` is new."""
        async with self._locks.setdefault(client_id, asyncio.Lock()):  # one fetch at a time per client
            entry = self._entries.get(client_id)
            age = self._clock() - entry.fetched_at if entry else float("inf")
            if entry is None or age >= self.ttl_seconds or (kid not in entry.keys and age >= self.refetch_interval):
                entry = self._entries[client_id] = _Jwks(await self._fetch(url), self._clock())
            return entry.keys.get(kid)

    async def _fetch(self, url: str) -> dict[str, dict[str, Any]]:
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
            async with self._session().get(url, timeout=timeout, allow_redirects=False,
                                           headers={"Accept": "application/json"}) as response:
                if response.status != 200:
                    raise ValueError(f"status {response.status}")
                body = await response.content.read(MAX_JWKS_BYTES + 1)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError("JWKS too large")
            document = json.loads(body)
            keys = document["keys"] if isinstance(document, dict) else None
            if not isinstance(keys, list):
                raise ValueError("no keys array")
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError) as exc:
            logger.warning("JWKS fetch failed: %s", type(exc).__name__ if not isinstance(exc, ValueError) else exc)
            raise AssertionRejected("the client's JWKS could not be fetched") from None
        return {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)
                and k.get("use", "sig") == "sig"}


class ReplayCache:
    """``jti`` values seen per client, each kept until its assertion expires (RFC 7523 §3 item 7)."""

    def __init__(self, *, clock: Callable[[], float] = time.time, capacity: int = MAX_REPLAY_ENTRIES) -> None:
        self._clock, self._capacity = clock, capacity
        self._seen: dict[tuple[str, str], float] = {}

    def first_use(self, client_id: str, jti: str, expires_at: float) -> bool:
        """Record ``jti``; False when it was already used by this client and could still be valid."""
        now = self._clock()
        key = (client_id, jti)
        if self._seen.get(key, float("-inf")) + CLOCK_SKEW_SECONDS >= now:
            return False
        if len(self._seen) >= self._capacity:
            self._seen = {k: exp for k, exp in self._seen.items() if exp + CLOCK_SKEW_SECONDS >= now}
            if len(self._seen) >= self._capacity:
                raise AssertionRejected("too many assertions in flight; try again later")
        self._seen[key] = expires_at
        return True


def _check_key(jwk: Mapping[str, Any], algorithm: str) -> None:
    kty, crv = KEY_TYPES[algorithm]
    if jwk.get("kty") != kty or (crv and jwk.get("crv") != crv) or jwk.get("alg", algorithm) != algorithm:
        raise AssertionRejected(f"the key named by kid cannot verify {algorithm}")
    if any(member in jwk for member in ("d", "p", "q", "k")):
        raise AssertionRejected("the client's JWKS publishes private key material")


class AssertionVerifier:
    """Verifies client assertions for the registered clients (client id -> JWKS URL) at ``token_url``."""

    def __init__(self, clients: Mapping[str, str], token_url: str, jwks: JwksCache, replay: ReplayCache, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.clients, self.token_url, self.jwks, self.replay = dict(clients), token_url, jwks, replay
        self._clock = clock

    async def verify(self, assertion: str, client_id: str | None) -> str:
        """The authenticated client id, or :class:`AssertionRejected`."""
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AssertionRejected("the client assertion is not a well-formed JWT") from None
        algorithm, kid, issuer = header.get("alg"), header.get("kid"), unverified.get("iss")
        if algorithm not in ALGORITHMS:
            raise AssertionRejected(f"the assertion must be signed with {' or '.join(ALGORITHMS)}")
        if not isinstance(kid, str) or not kid:
            raise AssertionRejected("the assertion header must name its key with kid")
        if not isinstance(issuer, str) or issuer not in self.clients:
            raise AssertionRejected("unknown client")
        if client_id is not None and client_id != issuer:
            raise AssertionRejected("client_id does not match the assertion's issuer")
        jwk = await self.jwks.key(issuer, self.clients[issuer], kid)
        if jwk is None:
            raise AssertionRejected("no key of the client's JWKS has this kid")
        _check_key(jwk, algorithm)
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=algorithm).key
            claims = jwt.decode(assertion, key, algorithms=[algorithm], audience=self.token_url, issuer=issuer,
                                leeway=CLOCK_SKEW_SECONDS,
                                options={"require": ["iss", "sub", "aud", "exp", "jti"], "verify_iat": False})
        except jwt.ExpiredSignatureError:
            raise AssertionRejected("the assertion has expired") from None
        except jwt.InvalidAudienceError:
            raise AssertionRejected("the assertion's aud is not this token endpoint") from None
        except jwt.PyJWTError:
            raise AssertionRejected("the assertion's signature or claims are invalid") from None
        if claims["sub"] != issuer:
            raise AssertionRejected("the assertion's sub must equal its iss (the client id)")
        now = self._clock()
        latest = now + MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS
        if not isinstance(claims["exp"], int | float) or claims["exp"] > latest:
            raise AssertionRejected("the assertion's exp is more than five minutes ahead")
        jti = claims["jti"]
        if not isinstance(jti, str) or not 0 < len(jti) <= 256:
            raise AssertionRejected("the assertion's jti must be a string of 1 to 256 characters")
        if not self.replay.first_use(issuer, jti, float(claims["exp"])):
            raise AssertionRejected("the assertion's jti has been used before")
        return issuer
