"""The per-worker key ring: the JWT signing keys, read from Key Vault through their index, cached, published.

Finding the keys. A worker reads the index secret (``gateway.tokens.key_index``: one small secret naming every
key in use) and then each key it names that is not retired (one or two): a cold worker costs about three Key
Vault calls, and so does a refresh, whatever the number of clients or secrets in the vault. It never lists the
vault and never creates a key: the first key and every rotation are the admin side's
(``gateway.tokens.key_admin``; the deployment runs ``gateway-admin ensure``). Without an index the worker
answers :class:`NoSigningKey` (the token endpoint's 503 ``temporarily_unavailable``), logs why, and asks again
at most every ``NO_KEY_RETRY_SECONDS``.

Caching. The key set serves for ``SIGNING_KEY_CACHE_SECONDS``; from half that age a request starts a refresh
in the background and is answered from the cached set (one refresh at a time), so a busy worker never waits.
An idle worker whose set is past its lifetime waits for the refresh at most ``REFRESH_WAIT_SECONDS``, then is
answered from the cached set while the refresh goes on. While Key Vault fails, the cached set keeps serving for
``STALE_IF_ERROR_SECONDS`` and Key Vault is asked again no sooner than ``OUTAGE_RETRY_SECONDS`` (its
``Retry-After`` when it throttles: then a worker with nothing cached waits too, answering 503), with jitter so
that workers that failed together do not retry together; one read at a time per worker.

Unknown kids. A token whose ``kid`` is not in the set is looked up again only when the kid could be a key
created since the set was read: of the gateway's shape, not in the future, and not older than the newest known
key by more than ``KID_RACE_SECONDS`` (two rotations racing). Then at most one refresh per
``UNKNOWN_KID_REFRESH_SECONDS``; any other kid is refused without a Key Vault call.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec

from gateway import telemetry
from gateway.clock import Clock
from gateway.config import Settings
from gateway.stores.errors import StoreThrottled, StoreUnavailable
from gateway.stores.protocols import SecretStore
from gateway.tokens.key_index import (
    IndexedKey,
    index_secret_name,
    infos,
    is_valid_kid,
    kid_time,
    parse_index,
    retire_times,
)
from gateway.tokens.keys import ALGORITHM, SigningKey, private_key_from_pem, public_jwk

logger = logging.getLogger("gateway.tokens.keyring")

LEEWAY_SECONDS = 30
"""Clock skew tolerated on ``exp``/``nbf`` by verifiers (and added to the grace period)."""
UNKNOWN_KID_REFRESH_SECONDS = 60.0
"""Minimum interval between refreshes an unknown (but possibly new) kid causes, per worker."""
KID_RACE_SECONDS = 300.0
"""How much older than the newest known key an unknown kid may be and still be looked up."""
KID_FUTURE_SECONDS = 120.0
"""Clock skew allowed on a kid's creation time (a kid made later than this is no key of ours)."""
OUTAGE_RETRY_SECONDS = 5.0
"""After a failed read, Key Vault is asked again no sooner than this (or its Retry-After), with jitter."""
NO_KEY_RETRY_SECONDS = 10.0
"""Without an index, Key Vault is asked again no sooner than this."""
REFRESH_WAIT_SECONDS = 1.0
"""How long a request waits for the refresh of an expired key set it could still serve: a hung Key Vault (it
accepts connections, never answers) must not stall signing; the refresh goes on in the background."""
NO_KEY_LOG_SECONDS = 60.0


class NoSigningKey(StoreUnavailable):
    """Key Vault holds no usable signing key (no index, or its active key unreadable): an operator must create
    one (``gateway-admin ensure``); token requests answer 503 until then."""


@dataclass(frozen=True)
class KeyRingPolicy:
    """The durations the key ring applies (from settings)."""

    prefix: str
    cache_seconds: float
    stale_if_error_seconds: float
    grace: timedelta
    """A superseded key stays accepted this long: token lifetime + cache lifetime + leeway."""

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRingPolicy:
        return cls(prefix=settings.key_vault_secret_prefix, cache_seconds=float(settings.signing_key_cache_seconds),
                   stale_if_error_seconds=float(settings.stale_if_error_seconds),
                   grace=timedelta(seconds=settings.token_lifetime_seconds + settings.signing_key_cache_seconds
                                   + 2 * LEEWAY_SECONDS))


@dataclass(frozen=True)
class _Snapshot:
    keys: tuple[IndexedKey, ...]                # every key the index names, best first (the active key first)
    retire_after: dict[str, datetime | None]    # per kid; None for the active key
    loaded: dict[str, SigningKey]               # private keys of the keys not retired
    loaded_at: float
    newest: datetime                            # creation time of the newest key named

    @property
    def active(self) -> SigningKey:
        return self.loaded[self.keys[0].kid]


def _jittered(seconds: float) -> float:
    return seconds * random.uniform(1.0, 1.5)


class KeyRing:
    """Signing keys of this worker; see the module docstring for the rules."""

    def __init__(self, secrets: SecretStore, clock: Clock, policy: KeyRingPolicy) -> None:
        self._secrets = secrets
        self._clock = clock
        self._policy = policy
        self._snapshot: _Snapshot | None = None
        self._loading: asyncio.Task[_Snapshot] | None = None
        self._retry_at = float("-inf")  # a failed read: cached keys serve without asking Key Vault until then
        self._refused_until = float("-inf")  # throttled, or no key: not even a cold worker asks until then
        self._failure: StoreUnavailable | None = None
        self._last_forced = float("-inf")
        self._no_key_logged = float("-inf")

    @property
    def policy(self) -> KeyRingPolicy:
        return self._policy

    # -- loading ------------------------------------------------------------------------------------------------
    async def _read_index(self) -> tuple[IndexedKey, ...]:
        name = index_secret_name(self._policy.prefix)
        stored = await self._secrets.get(name)
        if stored is None or not stored.enabled or not stored.value:
            raise NoSigningKey(f"no signing key index ({name})")
        try:
            keys = parse_index(stored.value)
        except ValueError:
            raise NoSigningKey(f"the signing key index {name} is unreadable") from None
        if not keys:
            raise NoSigningKey(f"the signing key index {name} names no key")
        return keys

    async def _load_key(self, key: IndexedKey) -> SigningKey | None:
        secret = await self._secrets.get(key.secret_name(self._policy.prefix))
        if secret is None or not secret.enabled or not secret.value:
            logger.error("signing key %s named by the index is missing or disabled", key.kid)
            return None
        try:
            return SigningKey(key.kid, ALGORITHM, private_key_from_pem(secret.value))
        except ValueError:
            logger.error("signing key %s is unreadable and is ignored", key.kid)
            return None

    async def _read(self) -> _Snapshot:
        """The index, then every key it names that is not retired (read again each time: a key whose secret an
        operator deleted stops verifying at the next refresh)."""
        keys = await self._read_index()
        live = {i.kid for i in infos(keys, self._clock.now(), self._policy.grace) if i.status != "retired"}
        wanted = [key for key in keys if key.kid in live]
        fetched = await asyncio.gather(*(self._load_key(key) for key in wanted))
        loaded = {key.kid: found for key, found in zip(wanted, fetched, strict=True) if found is not None}
        if keys[0].kid not in loaded:
            raise NoSigningKey("the active signing key is unreadable")
        return _Snapshot(keys=keys, retire_after=retire_times(keys, self._policy.grace), loaded=loaded,
                         loaded_at=self._clock.monotonic(), newest=max(k.created_on for k in keys))

    async def _load(self) -> _Snapshot:
        try:
            snapshot = await self._read()
        except StoreUnavailable as error:
            self._failed(error)
            raise
        self._snapshot, self._failure = snapshot, None
        self._retry_at = self._refused_until = float("-inf")
        return snapshot

    def _failed(self, error: StoreUnavailable) -> None:
        now = self._clock.monotonic()
        self._failure = error
        if isinstance(error, NoSigningKey):
            wait = NO_KEY_RETRY_SECONDS
            if now - self._no_key_logged >= NO_KEY_LOG_SECONDS:
                self._no_key_logged = now
                logger.error("no usable signing key: %s. Create it with `gateway-admin ensure` "
                             "(deployments run it); token requests answer 503 until then", error)
        else:
            wait = error.retry_after if isinstance(error, StoreThrottled) else OUTAGE_RETRY_SECONDS
            logger.warning("signing keys could not be read: %s", type(error).__name__)
        self._retry_at = now + _jittered(wait)
        if isinstance(error, NoSigningKey | StoreThrottled):
            self._refused_until = self._retry_at

    def _start_load(self) -> asyncio.Task[_Snapshot]:
        """The one load under way, started when there is none (single flight)."""
        if self._loading is None or self._loading.done():
            self._loading = asyncio.ensure_future(self._load())
            self._loading.add_done_callback(_retrieve)
        return self._loading

    def _servable(self, snapshot: _Snapshot) -> bool:
        age = self._clock.monotonic() - snapshot.loaded_at
        return age < self._policy.cache_seconds + self._policy.stale_if_error_seconds

    async def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        now = self._clock.monotonic()
        age = now - snapshot.loaded_at if snapshot is not None else float("inf")
        if snapshot is not None and age < self._policy.cache_seconds:
            telemetry.cache_lookup("keys", True)
            if age >= self._policy.cache_seconds / 2 and now >= self._retry_at:
                self._start_load()  # refresh ahead, in the background
            return snapshot
        telemetry.cache_lookup("keys", False)
        if now < self._retry_at and snapshot is not None and self._servable(snapshot):
            return snapshot  # Key Vault failed moments ago: the cached set serves without asking it again yet
        if now < self._refused_until:  # it asked to wait (Retry-After), or holds no key: a cold worker waits too
            raise self._failure or StoreUnavailable("signing keys unavailable")
        return await self._refreshed(snapshot)

    async def _refreshed(self, stale: _Snapshot | None) -> _Snapshot:
        """A fresh set; the stale one when the refresh fails or is slow and it can still serve."""
        task = self._start_load()
        if stale is None or not self._servable(stale):
            return await asyncio.shield(task)
        done, _ = await asyncio.wait({task}, timeout=REFRESH_WAIT_SECONDS)
        if task in done and task.exception() is None:
            return task.result()
        if task not in done:
            logger.warning("key vault slow to answer, serving cached signing keys while it refreshes")
        return stale

    # -- public interface ---------------------------------------------------------------------------------------
    async def signing_key(self) -> SigningKey:
        """The active key; NoSigningKey (a StoreUnavailable) when Key Vault holds none."""
        return (await self._current()).active

    async def published_signing_keys(self) -> tuple[SigningKey, ...]:
        """The active key first, then every other key still published (named by the index, not retired), with
        their private parts: what derives a MAC key that outlives a rotation (the proxy's page links)."""
        snapshot = await self._current()
        now = self._clock.now()
        return tuple(snapshot.loaded[key.kid] for key in snapshot.keys if key.kid in snapshot.loaded
                     and ((retire := snapshot.retire_after.get(key.kid)) is None or now < retire))

    async def verification_key(self, kid: object) -> ec.EllipticCurvePublicKey | None:
        """The public key of a published (active or previous) key; None for unknown or retired kids (any
        ``kid`` a token header carries, of any JSON type)."""
        if not is_valid_kid(kid):
            return None
        snapshot = await self._current()
        if kid not in snapshot.loaded:
            if not self._may_be_new(kid, snapshot) or not self._may_force():
                return None
            try:
                snapshot = await asyncio.shield(self._start_load())
            except StoreUnavailable:
                return None
        key = snapshot.loaded.get(kid)
        if key is None:
            return None
        retire = snapshot.retire_after.get(kid)
        if retire is not None and self._clock.now() >= retire:
            return None  # retired since the set was loaded
        return key.public_key

    def _may_be_new(self, kid: str, snapshot: _Snapshot) -> bool:
        """Whether ``kid`` could name a key created since ``snapshot`` was read (its time says so)."""
        created = kid_time(kid)
        return (created is not None
                and created > snapshot.newest - timedelta(seconds=KID_RACE_SECONDS)
                and created <= self._clock.now() + timedelta(seconds=KID_FUTURE_SECONDS))

    def _may_force(self) -> bool:
        now = self._clock.monotonic()
        if now - self._last_forced < UNKNOWN_KID_REFRESH_SECONDS or now < self._retry_at:
            return False
        self._last_forced = now
        return True

    async def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set (RFC 7517 §5) of every published key: public parts only, active key first."""
        snapshot = await self._current()
        published = infos(snapshot.keys, self._clock.now(), self._policy.grace)
        return {"keys": [public_jwk(i.kid, snapshot.loaded[i.kid].public_key)
                         for i in published if i.status != "retired" and i.kid in snapshot.loaded]}

    async def reload(self) -> None:
        """Read the index again now (the admin side calls this after changing it)."""
        self._retry_at = float("-inf")
        await asyncio.shield(self._start_load())

    def invalidate(self) -> None:
        """Forget the cached set; the next call reloads it."""
        self._snapshot = None
        self._retry_at = float("-inf")

    async def aclose(self) -> None:
        task, self._loading = self._loading, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _retrieve(task: asyncio.Task[_Snapshot]) -> None:
    """Mark a load's outcome retrieved: its awaiters see the error, a background refresh only logs it."""
    if not task.cancelled():
        task.exception()
