"""Client ids that prove they were issued here: an unknown id is refused without a store call.

A client id the gateway issues is a UUID (RFC 9562) of version 8 (§5.8, "custom"): 60 random bits and a
62-bit tag, the HMAC-SHA256 of those random bits under the gateway's client id key, in the bits the variant
leaves. A token request naming an id of this shape whose tag does not verify was not issued here: it is
refused from memory, whatever the number of clients, and an attacker cannot make up ids that pass (one in
2^62). Ids of any other shape (the version-4 UUIDs of earlier versions, ids a test or an import chose) are
answered by the index of such ids (``gateway.oauth.known_clients``).

The key is one Key Vault secret, ``<KEY_VAULT_SECRET_PREFIX>-client-id-key`` (32 random bytes, base64url),
created by the deployment's ``gateway-admin ensure`` (or by the first client creation). Workers read its
versions once (a listing of one secret's versions and a read of each: two calls), never create it, and accept
a tag made with any enabled version: two admin workers creating the first key at once leave two versions, both
good. Minting uses the oldest enabled version, so every minting worker agrees.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import random
import secrets
import uuid
from dataclasses import dataclass

from gateway.clock import Clock
from gateway.stores.errors import StoreThrottled, StoreUnavailable
from gateway.stores.protocols import SecretStore

logger = logging.getLogger("gateway.oauth")

KEY_BYTES = 32
KEY_REFRESH_SECONDS = 3600.0
"""A worker reads the key's versions again this often, in the background."""
ABSENT_RETRY_SECONDS = 60.0
"""Without a key, a worker asks again at most this often (until then no id of this shape can exist)."""
OUTAGE_RETRY_SECONDS = 5.0
_RANDOM_BITS = 60
_TAG_BITS = 62
_VERSION = 8


def key_secret_name(prefix: str) -> str:
    return f"{prefix}-client-id-key"


def _tag(key: bytes, random_part: int) -> int:
    mac = hmac.new(key, b"client-id\x00" + random_part.to_bytes(8, "big"), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big") >> (64 - _TAG_BITS)


def mint(key: bytes) -> str:
    """A new client id tagged with ``key``: a canonical, lowercase version-8 UUID."""
    random_part = secrets.randbits(_RANDOM_BITS)
    high = ((random_part >> 12) << 16) | (_VERSION << 12) | (random_part & 0xFFF)  # 48 bits, version, 12 bits
    low = (0b10 << _TAG_BITS) | _tag(key, random_part)  # the variant, then the tag
    return str(uuid.UUID(int=(high << 64) | low))


def _parts(client_id: str) -> tuple[int, int] | None:
    """(random part, tag) of an id of the tagged shape, else None."""
    if len(client_id) != 36 or client_id != client_id.lower():
        return None
    try:
        value = uuid.UUID(client_id)
    except ValueError:
        return None
    if str(value) != client_id or value.version != _VERSION or value.variant != uuid.RFC_4122:
        return None
    high, low = value.int >> 64, value.int & ((1 << 64) - 1)
    random_part = ((high >> 16) << 12) | (high & 0xFFF)
    return random_part, low & ((1 << _TAG_BITS) - 1)


def is_tagged_shape(client_id: str) -> bool:
    """Whether ``client_id`` has the shape of an id the gateway issues (its tag not checked)."""
    return _parts(client_id) is not None


def tag_verifies(client_id: str, keys: tuple[bytes, ...]) -> bool:
    """Whether the tag of a tagged-shape id was made with one of ``keys`` (constant time per key)."""
    parts = _parts(client_id)
    if parts is None:
        return False
    random_part, tag = parts
    found = False
    for key in keys:
        found |= hmac.compare_digest(_tag(key, random_part).to_bytes(8, "big"), tag.to_bytes(8, "big"))
    return found


def _decode(value: str | None) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode((value or "") + "=" * (-len(value or "") % 4))
    except ValueError:
        return None
    return raw if len(raw) == KEY_BYTES else None


def new_key_value() -> tuple[str, str, dict[str, str]]:
    """A new client id key's secret: value, content type, tags."""
    return (base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode(), "application/octet-stream",
            {"purpose": "client-id-tags"})


@dataclass
class _Loaded:
    keys: tuple[bytes, ...]  # enabled versions, oldest first
    at: float


class ClientIdKeys:
    """The client id key's versions, per worker (see the module docstring)."""

    def __init__(self, vault: SecretStore, clock: Clock, prefix: str) -> None:
        self._secrets = vault
        self._clock = clock
        self._name = key_secret_name(prefix)
        self._loaded: _Loaded | None = None
        self._retry_at = float("-inf")
        self._loading: asyncio.Task[_Loaded] | None = None

    async def _read(self) -> _Loaded:
        keys = []
        for version in await self._secrets.versions(self._name):
            if not version.enabled:
                continue
            stored = await self._secrets.get(self._name, version.version)
            key = _decode(stored.value if stored is not None else None)
            if key is not None:
                keys.append(key)
        return _Loaded(tuple(keys), self._clock.monotonic())

    async def _load(self) -> _Loaded:
        try:
            loaded = await self._read()
        except StoreUnavailable as error:
            wait = error.retry_after if isinstance(error, StoreThrottled) else OUTAGE_RETRY_SECONDS
            self._retry_at = self._clock.monotonic() + wait * random.uniform(1.0, 1.5)
            raise
        self._loaded = loaded
        self._retry_at = self._clock.monotonic() + (
            KEY_REFRESH_SECONDS if loaded.keys else ABSENT_RETRY_SECONDS) * random.uniform(1.0, 1.2)
        return loaded

    def _start_load(self) -> asyncio.Task[_Loaded]:
        if self._loading is None or self._loading.done():
            self._loading = asyncio.ensure_future(self._load())
            self._loading.add_done_callback(lambda task: task.cancelled() or task.exception())
        return self._loading

    async def keys(self) -> tuple[bytes, ...]:
        """The enabled versions (empty: no key, so no tagged client can exist); StoreUnavailable when they were
        never read and cannot be now."""
        loaded, now = self._loaded, self._clock.monotonic()
        if loaded is not None:
            if now >= self._retry_at:
                self._start_load()  # refresh in the background; the cached versions answer
            return loaded.keys
        if now < self._retry_at:
            raise StoreUnavailable("the client id key could not be read moments ago")
        return (await asyncio.shield(self._start_load())).keys

    async def ensure(self) -> bool:
        """Create the key when there is none (the deployment's ``ensure``); whether it was created here."""
        had = bool((await self._load()).keys)
        await self.minting_key()
        return not had

    async def minting_key(self) -> bytes:
        """The key new ids are minted with (the oldest enabled version), created when there is none (admin side
        only: workers never call this)."""
        loaded = await self._load()
        if not loaded.keys:
            value, content_type, tags = new_key_value()
            await self._secrets.set(self._name, value, content_type=content_type, tags=tags)
            logger.info("created the client id key")
            loaded = await self._load()
        return loaded.keys[0]

    async def aclose(self) -> None:
        task, self._loading = self._loading, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
