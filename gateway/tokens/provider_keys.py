"""The gateway's provider assertion keys: names, publication schedule, JWKS and RFC 7523 assertions.

A route with ``upstreamAuth.type = privateKeyJwt`` authenticates to its provider's token endpoint with a client
assertion (RFC 7523 §2.2, §3; SMART App Launch 2.x Backend Services, "Authenticating to the token service")
signed by a key held in Key Vault (``gateway.stores.keyvault_keys``). Keys are named by a key name (``gateway``
unless a route asks for its own ``keyName``) and an algorithm: the admin name ``<keyName>-rs384`` or
``<keyName>-es384``, the Key Vault key ``<KEY_VAULT_SECRET_PREFIX>-provider-<admin name>``.

Publication schedule, computed from the versions' creation times alone (every worker agrees, nothing stored):

- the first version of a key signs from its creation;
- a later version (a rotation) is published at once in ``/oauth2/provider-jwks`` but signs only from
  ``created + activation``, where activation = PROVIDER_JWKS_MAX_AGE_SECONDS (what a provider may cache) +
  the worker's own cache of the versions + a clock margin: by then every JWKS a provider can still hold names it;
- a version superseded at ``t`` (the next version starts signing) stays published until ``t + retention``,
  retention = the longest assertion lifetime (300 s) + 60 s of provider clock skew + the clock margin +
  PROVIDER_JWKS_MAX_AGE_SECONDS + the worker cache: no assertion it signed can still be valid after that.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.clock import Clock
from gateway.stores.errors import AlreadyExists, NotFound, StoreError, StoreUnavailable
from gateway.stores.provider_keys import ALGORITHMS, ProviderKeyStore, ProviderKeyVersion, b64url

logger = logging.getLogger("gateway.tokens.provider_keys")

DEFAULT_KEY_NAME = "gateway"
KEY_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
_KEY_NAME = re.compile(KEY_NAME_PATTERN)
ASSERTION_LIFETIME_SECONDS = 240  # exp - iat of the assertions the gateway signs (SMART: at most five minutes)
MAX_ASSERTION_LIFETIME_SECONDS = 300
PROVIDER_CLOCK_SKEW_SECONDS = 60
CLOCK_MARGIN_SECONDS = 5
MAX_WORKER_CACHE_SECONDS = 30
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class ProviderKeyUnavailable(Exception):
    """No key can sign for this route (absent, disabled, or Key Vault failed); the message is safe to show."""


@dataclass(frozen=True)
class Timing:
    """The publication rule's durations, in seconds (see the module docstring)."""

    jwks_max_age: int
    worker_cache: float

    @property
    def activation(self) -> float:
        return self.jwks_max_age + self.worker_cache + CLOCK_MARGIN_SECONDS

    @property
    def retention(self) -> float:
        return (MAX_ASSERTION_LIFETIME_SECONDS + PROVIDER_CLOCK_SKEW_SECONDS + CLOCK_MARGIN_SECONDS
                + self.jwks_max_age + self.worker_cache)

    @staticmethod
    def of(jwks_max_age: int) -> Timing:
        """The durations for providers that cache the JWKS ``jwks_max_age`` s (PROVIDER_JWKS_MAX_AGE_SECONDS)."""
        return Timing(jwks_max_age, float(min(MAX_WORKER_CACHE_SECONDS, jwks_max_age)))


@dataclass(frozen=True)
class VersionState:
    """A version and where it stands: ``pending`` (published, not yet signing), ``active`` (signing),
    ``previous`` (superseded, still published), ``retired`` (no longer published)."""

    key: ProviderKeyVersion
    activates_at: datetime
    retires_at: datetime | None
    status: str


def key_name_problem(value: object) -> str | None:
    if not isinstance(value, str) or not _KEY_NAME.fullmatch(value):
        return "must be 1-40 lowercase letters, digits and hyphens (not at either end)"
    return None


def admin_name(key_name: str, alg: str) -> str:
    return f"{key_name}-{alg.lower()}"


def parse_admin_name(name: str) -> tuple[str, str] | None:
    """``(keyName, alg)`` of an admin key name such as ``gateway-rs384``, or None."""
    key_name, _, suffix = name.rpartition("-")
    alg = suffix.upper()
    if alg not in ALGORITHMS or key_name_problem(key_name) is not None:
        return None
    return key_name, alg


def schedule(versions: list[ProviderKeyVersion], now: datetime, timing: Timing) -> list[VersionState]:
    """Each enabled version's state at ``now`` (oldest first), by the rule of the module docstring."""
    enabled = sorted((v for v in versions if v.enabled), key=lambda v: v.created_on)
    activation = timedelta(seconds=timing.activation)
    starts = [v.created_on if i == 0 else v.created_on + activation for i, v in enumerate(enabled)]
    for i in range(1, len(starts)):  # never before an older version: creation times are monotonic anyway
        starts[i] = max(starts[i], starts[i - 1])
    active = max((i for i, start in enumerate(starts) if start <= now), default=None)
    states: list[VersionState] = []
    for i, (version, start) in enumerate(zip(enabled, starts, strict=True)):
        retires = starts[i + 1] + timedelta(seconds=timing.retention) if i + 1 < len(starts) else None
        if start > now:
            status = "pending"
        elif i == active:
            status = "active"
        elif retires is not None and now < retires:
            status = "previous"
        else:
            status = "retired"
        states.append(VersionState(version, start, retires, status))
    return states


def published_jwk(version: ProviderKeyVersion) -> dict[str, str]:
    """The JWK a provider fetches: public members, ``kid`` (thumbprint), ``alg`` and ``use: sig``."""
    return {**version.public_jwk, "kid": version.kid, "alg": version.alg, "use": "sig"}


class NoProviderKeys:
    """Stands in when a worker has no provider key store: every use fails as an unavailable store (fail closed)."""

    async def create(self, name: str, alg: str, *, tags: dict[str, str] | None = None) -> ProviderKeyVersion:
        raise StoreUnavailable("no provider key store is configured")

    async def rotate(self, name: str) -> ProviderKeyVersion:
        raise StoreUnavailable("no provider key store is configured")

    async def versions(self, name: str) -> list[ProviderKeyVersion]:
        raise StoreUnavailable("no provider key store is configured")

    async def names(self) -> list[str]:
        raise StoreUnavailable("no provider key store is configured")

    async def sign(self, name: str, version: str, alg: str, digest: bytes) -> bytes:
        raise StoreUnavailable("no provider key store is configured")


class ProviderKeyRing:
    """Per-worker access to the provider keys in ``store``: their Key Vault names start with ``name_prefix``
    (``KEY_VAULT_SECRET_PREFIX``); providers cache their JWKS ``jwks_max_age`` seconds."""

    def __init__(self, store: ProviderKeyStore, *, name_prefix: str, jwks_max_age: int, clock: Clock) -> None:
        self.store = store
        self.timing = Timing.of(jwks_max_age)
        self._prefix = f"{name_prefix}-provider-"
        self._clock = clock
        self._versions: dict[str, tuple[float, list[ProviderKeyVersion]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def vault_name(self, key_name: str, alg: str) -> str:
        """The Key Vault key of ``(keyName, alg)``: ``<prefix>-provider-<keyName>-<alg>``."""
        return f"{self._prefix}{admin_name(key_name, alg)}"

    def forget(self, name: str | None = None) -> None:
        if name is None:
            self._versions.clear()
        else:
            self._versions.pop(name, None)

    async def versions(self, name: str) -> list[ProviderKeyVersion]:
        """The versions of Key Vault key ``name``, trusted for the worker cache time (single flight)."""
        found = self._versions.get(name)
        now = self._clock.monotonic()
        if found is not None and now < found[0]:
            return found[1]
        async with self._locks.setdefault(name, asyncio.Lock()):
            found = self._versions.get(name)
            if found is not None and self._clock.monotonic() < found[0]:
                return found[1]
            versions = await self.store.versions(name)
            self._versions[name] = (self._clock.monotonic() + self.timing.worker_cache, versions)
            return versions

    async def ensure(self, key_name: str, alg: str) -> ProviderKeyVersion | None:
        """Create the key a route needs if it does not exist yet; returns its first version when created here."""
        name = self.vault_name(key_name, alg)
        if await self.store.versions(name):
            return None
        try:
            created = await self.store.create(name, alg, tags={"keyName": key_name})
        except AlreadyExists:
            return None
        self.forget(name)
        return created

    async def rotate(self, key_name: str, alg: str) -> ProviderKeyVersion:
        """A new version (NotFound when the key does not exist); it signs only after the activation delay."""
        name = self.vault_name(key_name, alg)
        version = await self.store.rotate(name)
        self.forget(name)
        return version

    async def states(self, key_name: str, alg: str, *, fresh: bool = False) -> list[VersionState]:
        name = self.vault_name(key_name, alg)
        if fresh:
            self.forget(name)
        return schedule(await self.versions(name), self._clock.now(), self.timing)

    async def key_names(self) -> list[tuple[str, str]]:
        """``(keyName, alg)`` of every provider key in the store."""
        out = []
        for name in await self.store.names():
            if name.startswith(self._prefix):
                parsed = parse_admin_name(name[len(self._prefix):])
                if parsed is not None:
                    out.append(parsed)
        return sorted(out)

    async def jwks(self, key_name: str = DEFAULT_KEY_NAME) -> dict[str, Any]:
        """RFC 7517 §5 key set of ``key_name``'s published versions (both algorithms), public members only."""
        keys = []
        for alg in ALGORITHMS:
            for state in await self.states(key_name, alg):
                if state.status != "retired":
                    keys.append(published_jwk(state.key))
        return {"keys": keys}

    async def assertion(self, key_name: str, alg: str, client_id: str, audience: str) -> str:
        """A signed client assertion (RFC 7523 §3): ``iss`` = ``sub`` = ``client_id``, ``aud`` = ``audience``
        (the route's saved token URL), ``exp`` 240 s after ``iat``, a random ``jti``; header ``alg``, ``kid``
        (the published JWK's thumbprint) and ``typ: JWT``."""
        name = self.vault_name(key_name, alg)
        try:
            states = await self.states(key_name, alg)
        except StoreError:
            raise ProviderKeyUnavailable("The gateway's provider key is unavailable.") from None
        signer = next((s.key for s in states if s.status == "active"), None)
        if signer is None or signer.alg != alg:
            raise ProviderKeyUnavailable("The gateway's provider key is not set up; save the route again.")
        now = int(self._clock.now().timestamp())
        header = {"alg": alg, "kid": signer.kid, "typ": "JWT"}
        claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now,
                  "exp": now + ASSERTION_LIFETIME_SECONDS, "jti": secrets.token_urlsafe(32)}
        signing_input = ".".join(b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
                                 for part in (header, claims))
        digest = hashlib.sha384(signing_input.encode("ascii")).digest()
        try:
            signature = await self.store.sign(name, signer.version, alg, digest)
        except NotFound:
            self.forget(name)  # disabled or deleted since it was listed: list again next time
            raise ProviderKeyUnavailable("The gateway's provider key is unavailable.") from None
        except StoreError:
            raise ProviderKeyUnavailable("The gateway's provider key is unavailable.") from None
        return f"{signing_input}.{b64url(signature)}"
