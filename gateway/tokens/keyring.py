"""The per-worker key ring: JWT signing keys kept in Key Vault, cached, rotated, published.

Storage. Each key is one Key Vault secret (through ``services.secrets``) named
``signing_key_secret_name(prefix, kid)``; its value is the PEM (PKCS#8) private
key, its tags ``kid``, ``alg``, ``generation`` and ``created`` (ISO 8601).

Which key signs. The *active* key is the one of the highest generation, ties
broken by the smallest kid (kids start with their creation time). Every worker
applies the same rule to the same listing, so workers agree without locks.

Concurrent first start. A worker that finds no usable key creates one of
generation 1, then reads the listing again and signs with whichever key the
rule picks. If several workers race, several generation-1 keys exist: all of
them are published and accepted, so any token any worker signed verifies, and
every worker converges on the same active key at its next refresh.

Rotation (:meth:`KeyRing.rotate`) adds a key of the next generation, which is
active at once on this worker and on others within ``SIGNING_KEY_CACHE_SECONDS``.
A superseded key stays published and accepted ("previous") until every token
it can have signed has expired: superseded time + cache lifetime (workers that
have not yet seen the new key) + token lifetime + leeway. Then it is "retired":
dropped from the JWKS and refused.

Caching. The key set is cached for ``SIGNING_KEY_CACHE_SECONDS``; a token with
an unknown kid triggers at most one refresh per ``UNKNOWN_KID_REFRESH_SECONDS``
so a rotation on another worker is seen at once, but random kids cannot make a
worker hammer Key Vault. While Key Vault is unreachable the cached set keeps
serving for ``STALE_IF_ERROR_SECONDS``; a refresh slower than
``REFRESH_WAIT_SECONDS`` finishes in the background while the cached set serves.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeGuard

from cryptography.hazmat.primitives.asymmetric import ec

from gateway import telemetry
from gateway.credentials import signing_key_secret_name
from gateway.services import Services
from gateway.stores.errors import StoreUnavailable
from gateway.stores.models import StoredSecret
from gateway.tokens.keys import (
    ALGORITHM,
    KeyStatus,
    SigningKey,
    SigningKeyInfo,
    generate_private_key,
    new_kid,
    private_key_from_pem,
    private_key_to_pem,
    public_jwk,
)

logger = logging.getLogger("gateway.tokens.keyring")

LEEWAY_SECONDS = 30
"""Clock skew tolerated on ``exp``/``nbf`` by verifiers (and added to the grace period)."""
UNKNOWN_KID_REFRESH_SECONDS = 2.0
"""Minimum interval between refreshes triggered by unknown kids."""
OUTAGE_RETRY_SECONDS = 5.0
"""While Key Vault fails and a stale set serves, try again at most this often."""
REFRESH_WAIT_SECONDS = 1.0
"""How long a request waits for the refresh of a key set it could still serve: a hung Key Vault (it accepts
connections, never answers) must not stall signing; the refresh goes on in the background."""

_KID_RE = re.compile(r"^[0-9]{14}-[0-9a-f]{16}$")


def is_valid_kid(kid: object) -> TypeGuard[str]:
    """True when ``kid`` has the shape of a key id this gateway creates."""
    return isinstance(kid, str) and bool(_KID_RE.match(kid))


@dataclass(frozen=True)
class _StoredKey:
    kid: str
    generation: int
    created_on: datetime
    secret_name: str


@dataclass(frozen=True)
class _Snapshot:
    keys: tuple[_StoredKey, ...]                # every key found, best first (the active key first)
    retire_after: dict[str, datetime | None]    # per kid; None for the active key
    loaded: dict[str, SigningKey]               # private keys of the non-retired ones
    loaded_at: float


def _rank(key: _StoredKey) -> tuple[int, str]:
    return (-key.generation, key.kid)


def _parse(secret: StoredSecret, name_prefix: str) -> _StoredKey | None:
    if not secret.name.startswith(name_prefix) or not secret.enabled:
        return None
    tags = secret.tags or {}
    kid = secret.name[len(name_prefix):]
    if tags.get("kid", kid) != kid or tags.get("alg") != ALGORITHM or not is_valid_kid(kid):
        return None
    try:
        generation = int(tags.get("generation", "1"))
        created = datetime.fromisoformat(tags["created"]) if "created" in tags else secret.created_on
    except (ValueError, KeyError):
        return None
    if created is None or created.tzinfo is None:
        return None
    return _StoredKey(kid=kid, generation=generation, created_on=created, secret_name=secret.name)


class KeyRing:
    """Signing keys of this worker; see the module docstring for the rules."""

    def __init__(self, services: Services) -> None:
        self._services = services
        settings = services.settings
        self._prefix = settings.key_vault_secret_prefix
        self._name_prefix = signing_key_secret_name(self._prefix, "")
        self._ttl = float(settings.signing_key_cache_seconds)
        self._stale = float(settings.stale_if_error_seconds)
        self._grace = timedelta(seconds=settings.token_lifetime_seconds + settings.signing_key_cache_seconds
                                + 2 * LEEWAY_SECONDS)
        self._snapshot: _Snapshot | None = None
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Future[_Snapshot] | None = None
        self._last_attempt = float("-inf")
        self._last_forced = float("-inf")

    # -- status rules -------------------------------------------------------------------------------------------
    def _retire_times(self, ordered: tuple[_StoredKey, ...]) -> dict[str, datetime | None]:
        """When each key stops being accepted: superseded + grace; None for the active (first) key."""
        times: dict[str, datetime | None] = {}
        earliest_better: datetime | None = None
        for key in ordered:
            if earliest_better is None:
                times[key.kid] = None
                earliest_better = key.created_on
            else:
                times[key.kid] = max(key.created_on, earliest_better) + self._grace
                earliest_better = min(earliest_better, key.created_on)
        return times

    def _infos(self, ordered: tuple[_StoredKey, ...], now: datetime) -> list[SigningKeyInfo]:
        times = self._retire_times(ordered)
        infos = []
        for key in ordered:
            retire = times[key.kid]
            status: KeyStatus = "active" if retire is None else ("previous" if now < retire else "retired")
            infos.append(SigningKeyInfo(kid=key.kid, alg=ALGORITHM, created_on=key.created_on, status=status,
                                        retire_after=retire, generation=key.generation))
        return infos

    # -- loading ------------------------------------------------------------------------------------------------
    async def _list_keys(self) -> tuple[_StoredKey, ...]:
        found = [k for k in (_parse(s, self._name_prefix) for s in await self._services.secrets.list()) if k]
        return tuple(sorted(found, key=_rank))

    async def _read(self, previous: _Snapshot | None) -> _Snapshot:
        ordered = await self._list_keys()
        now = self._services.clock.now()
        loaded: dict[str, SigningKey] = {}
        for info, key in zip(self._infos(ordered, now), ordered, strict=True):
            if info.status == "retired":
                continue
            cached = previous.loaded.get(key.kid) if previous else None
            if cached is not None:
                loaded[key.kid] = cached
                continue
            secret = await self._services.secrets.get(key.secret_name)
            if secret is None or not secret.value:
                continue
            try:
                loaded[key.kid] = SigningKey(key.kid, ALGORITHM, private_key_from_pem(secret.value))
            except ValueError:
                logger.error("signing key %s is unreadable and is ignored", key.kid)
        return _Snapshot(keys=ordered, retire_after=self._retire_times(ordered), loaded=loaded,
                         loaded_at=self._services.clock.monotonic())

    async def _create(self, generation: int) -> _StoredKey:
        now = self._services.clock.now()
        kid = new_kid(now)
        name = signing_key_secret_name(self._prefix, kid)
        await self._services.secrets.set(
            name, private_key_to_pem(generate_private_key()), content_type="application/x-pem-file",
            tags={"kid": kid, "alg": ALGORITHM, "generation": str(generation), "created": now.isoformat(),
                  "purpose": "jwt-signing"})
        logger.info("created signing key kid=%s generation=%d", kid, generation)
        return _StoredKey(kid=kid, generation=generation, created_on=now, secret_name=name)

    async def _refresh(self) -> _Snapshot:
        """Reload the key set (creating the first key when there is none); callers hold the lock."""
        previous = self._snapshot
        self._last_attempt = self._services.clock.monotonic()
        try:
            snapshot = await self._read(previous)
            if not snapshot.keys or snapshot.keys[0].kid not in snapshot.loaded:
                await self._create(max((k.generation for k in snapshot.keys), default=0) + 1)
                snapshot = await self._read(snapshot)
        except StoreUnavailable:
            if previous is not None and self._last_attempt - previous.loaded_at < self._ttl + self._stale:
                logger.warning("key vault unavailable, serving cached signing keys")
                return previous
            raise
        if not snapshot.keys or snapshot.keys[0].kid not in snapshot.loaded:
            raise StoreUnavailable("no usable signing key")
        self._snapshot = snapshot
        return snapshot

    def _usable(self, snapshot: _Snapshot | None, *, force: bool) -> TypeGuard[_Snapshot]:
        """True when ``snapshot`` may answer without a refresh."""
        if snapshot is None:
            return False
        now = self._services.clock.monotonic()
        if not force and now - snapshot.loaded_at < self._ttl:
            return True
        # a refresh failed moments ago: serve the stale set rather than hammer the store
        return (snapshot.loaded_at < self._last_attempt and now - self._last_attempt < OUTAGE_RETRY_SECONDS
                and now - snapshot.loaded_at < self._ttl + self._stale)

    def _servable(self, snapshot: _Snapshot) -> bool:
        return self._services.clock.monotonic() - snapshot.loaded_at < self._ttl + self._stale

    async def _current(self, *, force: bool = False) -> _Snapshot:
        snapshot = self._snapshot
        if self._usable(snapshot, force=force):
            telemetry.cache_lookup("keys", True)
            return snapshot
        telemetry.cache_lookup("keys", False)
        refreshing = self._refreshing
        if refreshing is not None and not refreshing.done() and snapshot is not None and self._servable(snapshot):
            return snapshot  # a slow refresh is under way in the background
        await self._lock.acquire()
        release = True
        try:
            if self._snapshot is not None and self._snapshot is not snapshot:
                return self._snapshot  # another task refreshed while we waited
            if self._usable(self._snapshot, force=force):
                return self._snapshot
            previous = self._snapshot
            if previous is None or not self._servable(previous):
                return await self._refresh()
            task = self._refreshing = asyncio.ensure_future(self._refresh())
            done, _ = await asyncio.wait({task}, timeout=REFRESH_WAIT_SECONDS)
            if task in done:
                return task.result()
            release = False  # the lock stays held until the background refresh ends
            task.add_done_callback(self._refreshed)
            logger.warning("key vault slow to answer, serving cached signing keys while it refreshes")
            return previous
        finally:
            if release:
                self._lock.release()

    def _refreshed(self, task: asyncio.Future[_Snapshot]) -> None:
        self._lock.release()
        if not task.cancelled() and task.exception() is not None:
            logger.warning("background signing key refresh failed: %s", type(task.exception()).__name__)

    # -- public interface ---------------------------------------------------------------------------------------
    async def signing_key(self) -> SigningKey:
        """The active key (created on first use when Key Vault holds none)."""
        snapshot = await self._current()
        return snapshot.loaded[snapshot.keys[0].kid]

    async def verification_key(self, kid: object) -> ec.EllipticCurvePublicKey | None:
        """The public key of a published (active or previous) key; None for unknown or retired kids (any
        ``kid`` a token header carries, of any JSON type)."""
        if not is_valid_kid(kid):
            return None
        snapshot = await self._current()
        if kid not in snapshot.loaded:
            now = self._services.clock.monotonic()
            if now - self._last_forced < UNKNOWN_KID_REFRESH_SECONDS:
                return None
            self._last_forced = now
            snapshot = await self._current(force=True)
        key = snapshot.loaded.get(kid)
        if key is None:
            return None
        retire = snapshot.retire_after.get(kid)
        if retire is not None and self._services.clock.now() >= retire:
            return None  # retired since the set was loaded
        return key.public_key

    async def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set (RFC 7517 §5) of every published key: public parts only, active key first."""
        snapshot = await self._current()
        infos = self._infos(snapshot.keys, self._services.clock.now())
        return {"keys": [public_jwk(i.kid, snapshot.loaded[i.kid].public_key)
                         for i in infos if i.status != "retired" and i.kid in snapshot.loaded]}

    async def rotate(self) -> SigningKeyInfo:
        """Create a key of the next generation; it signs from now on. Returns its info."""
        async with self._lock:
            ordered = await self._list_keys()
            created = await self._create(max((k.generation for k in ordered), default=0) + 1)
            snapshot = await self._refresh()
        info = next(i for i in self._infos(snapshot.keys, self._services.clock.now()) if i.kid == created.kid)
        return info

    async def list_keys(self) -> list[SigningKeyInfo]:
        """Every signing key in Key Vault with its status (fresh from the store), active first."""
        ordered = await self._list_keys()
        return self._infos(ordered, self._services.clock.now())

    def invalidate(self) -> None:
        """Forget the cached set; the next call reloads it."""
        self._snapshot = None
        self._last_attempt = float("-inf")
