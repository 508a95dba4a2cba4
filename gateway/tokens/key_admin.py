"""Creating and rotating the gateway's signing keys: the admin side of the key ring (workers only read).

- :meth:`SigningKeyAdmin.ensure` (``gateway-admin ensure``, which the deployment runs): makes sure the index
  exists. With no index it builds one from the keys an earlier version of the gateway left in the vault
  (listing the vault once: the only listing, and an administrator's), or creates the first key (generation 1).
- :meth:`SigningKeyAdmin.rotate`: a key of the next generation, which signs at once on this worker and on the
  others within ``SIGNING_KEY_CACHE_SECONDS``; the previous one stays published and accepted until every token it
  can have signed has expired (``gateway.tokens.key_index``).

Key Vault has no conditional write, so two writers of the index could each drop the other's key: every write is
read back, and a key missing from what was read back is merged in again (a few times at most), so concurrent
rotations and first starts end with every key named.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from gateway.clock import Clock
from gateway.credentials import signing_key_secret_name
from gateway.stores.errors import StoreUnavailable
from gateway.stores.models import StoredSecret
from gateway.stores.protocols import SecretStore
from gateway.tokens.key_index import (
    IndexedKey,
    index_secret_name,
    infos,
    is_valid_kid,
    ordered,
    parse_index,
    render_index,
)
from gateway.tokens.keyring import KeyRing
from gateway.tokens.keys import ALGORITHM, SigningKeyInfo, generate_private_key, new_kid, private_key_to_pem

logger = logging.getLogger("gateway.tokens.keyring")

INDEX_WRITE_ATTEMPTS = 4


@dataclass(frozen=True)
class SecretWrite:
    """One secret to write: name, value (never shown), content type, tags."""

    name: str
    value: str = field(repr=False)
    content_type: str
    tags: dict[str, str]


def new_key(prefix: str, generation: int, now: datetime) -> tuple[IndexedKey, SecretWrite]:
    """A new P-256 key of ``generation``: what the index says of it, and its secret."""
    kid = new_kid(now)
    return IndexedKey(kid=kid, generation=generation, created_on=now), SecretWrite(
        signing_key_secret_name(prefix, kid), private_key_to_pem(generate_private_key()), "application/x-pem-file",
        {"kid": kid, "alg": ALGORITHM, "generation": str(generation), "created": now.isoformat(),
         "purpose": "jwt-signing"})


def index_write(prefix: str, keys: tuple[IndexedKey, ...]) -> SecretWrite:
    return SecretWrite(index_secret_name(prefix), render_index(keys), "application/json",
                       {"purpose": "jwt-signing-index"})


def first_key_writes(prefix: str, now: datetime) -> list[SecretWrite]:
    """The secrets of a deployment's first key, index last (what :meth:`SigningKeyAdmin.ensure` writes for an
    empty vault; in-memory test services start with them)."""
    key, write = new_key(prefix, 1, now)
    return [write, index_write(prefix, (key,))]


def _from_listing(secret: StoredSecret, name_prefix: str) -> IndexedKey | None:
    """A key an earlier version of the gateway created (found by its name and tags), or None."""
    kid = secret.name[len(name_prefix):]
    tags = secret.tags or {}
    if (not secret.name.startswith(name_prefix) or not secret.enabled or not is_valid_kid(kid)
            or tags.get("kid", kid) != kid or tags.get("alg") != ALGORITHM):
        return None
    try:
        generation = int(tags.get("generation", "1"))
        created = datetime.fromisoformat(tags["created"]) if "created" in tags else secret.created_on
    except (ValueError, KeyError):
        return None
    if created is None or created.tzinfo is None:
        return None
    return IndexedKey(kid=kid, generation=generation, created_on=created)


class SigningKeyAdmin:
    """Writes the signing keys and their index; ``ring`` is this worker's key ring, reloaded after a change."""

    def __init__(self, secrets: SecretStore, clock: Clock, ring: KeyRing) -> None:
        self._secrets = secrets
        self._clock = clock
        self._ring = ring
        self._policy = ring.policy
        self._lock = asyncio.Lock()

    async def _index(self) -> tuple[IndexedKey, ...] | None:
        """The keys the index names now (fresh from Key Vault); None without an index."""
        stored = await self._secrets.get(index_secret_name(self._policy.prefix))
        if stored is None or not stored.value:
            return None
        try:
            return parse_index(stored.value)
        except ValueError:
            logger.error("the signing key index is unreadable; it is written again")
            return None

    async def _write_index(self, keys: tuple[IndexedKey, ...]) -> tuple[IndexedKey, ...]:
        """Write an index naming ``keys`` (and whatever another writer added meanwhile), minus retired keys."""
        wanted = {k.kid: k for k in keys}
        for _ in range(INDEX_WRITE_ATTEMPTS):
            now = self._clock.now()
            live = {i.kid for i in infos(ordered(list(wanted.values())), now, self._policy.grace)
                    if i.status != "retired"}
            kept = ordered([k for k in wanted.values() if k.kid in live])
            write = index_write(self._policy.prefix, kept)
            await self._secrets.set(write.name, write.value, content_type=write.content_type, tags=write.tags)
            found = await self._index() or ()
            if {k.kid for k in kept} <= {k.kid for k in found}:
                return found
            wanted |= {k.kid: k for k in found}  # another writer's keys: keep them too
        raise RuntimeError("the signing key index kept changing while it was written")

    async def _create(self, generation: int) -> IndexedKey:
        key, write = new_key(self._policy.prefix, generation, self._clock.now())
        await self._secrets.set(write.name, write.value, content_type=write.content_type, tags=write.tags)
        logger.info("created signing key kid=%s generation=%d", key.kid, generation)
        return key

    async def _existing_keys(self) -> tuple[IndexedKey, ...]:
        """Keys an earlier version left in the vault, found by listing it (once, when there is no index)."""
        name_prefix = signing_key_secret_name(self._policy.prefix, "")
        found = [_from_listing(s, name_prefix) for s in await self._secrets.list()]
        return ordered([k for k in found if k is not None])

    async def ensure(self) -> SigningKeyInfo | None:
        """Make sure an index names a usable key; the info of the key made active here, None when there was one."""
        async with self._lock:
            if await self._index():
                return None
            keys = await self._existing_keys()
            if not keys:
                keys = (await self._create(1),)
            written = await self._write_index(keys)
        await self._reload_ring()
        return self._info(written, written[0].kid)

    async def rotate(self) -> SigningKeyInfo:
        """Create a key of the next generation; it signs from now on. Returns its info."""
        async with self._lock:
            keys = await self._index()
            if keys is None:
                keys = await self._existing_keys()
            created = await self._create(max((k.generation for k in keys), default=0) + 1)
            written = await self._write_index((*keys, created))
        await self._reload_ring()
        return self._info(written, created.kid)

    async def list_keys(self) -> list[SigningKeyInfo]:
        """The keys the index names with their status (fresh from Key Vault), active first."""
        return infos(await self._index() or (), self._clock.now(), self._policy.grace)

    async def _reload_ring(self) -> None:
        """This worker signs with the new set at once; others within their cache lifetime. A reload that fails
        changes nothing written: the ring reloads on its own schedule."""
        try:
            await self._ring.reload()
        except StoreUnavailable as error:
            logger.warning("signing keys written; this worker's reload failed (%s)", type(error).__name__)

    def _info(self, keys: tuple[IndexedKey, ...], kid: str) -> SigningKeyInfo:
        return next(i for i in infos(keys, self._clock.now(), self._policy.grace) if i.kid == kid)
