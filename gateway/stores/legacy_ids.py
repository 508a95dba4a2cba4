"""The index of client ids not issued with a tag (``gateway.oauth.client_ids``): the ids of clients created
before tags existed, or by tools that chose their own.

No such id is created any more by the admin API, so the set is written once, by the deployment's
``gateway-admin ensure`` after an upgrade (one listing of the clients, an administrator's), and workers read it
whole, once: a few entities whatever the number of clients (each id kept as an 8-byte SHA-256 prefix: 50,000
ids fit in one entity). A deleted client may stay in it harmlessly (the client directory has the last word).

Table Storage holds it in the clients table under the reserved partition ``LEGACY_PARTITION``
(``gateway.stores.tables.legacy_ids``); the in-memory twin answers from its client store directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Protocol

from gateway.stores.errors import StoreUnavailable

DIGEST_BYTES = 8


def id_digest(client_id: str) -> bytes:
    """What the index keeps of a client id: the first 8 bytes of its SHA-256 (UTF-8, ``surrogatepass``)."""
    return hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).digest()[:DIGEST_BYTES]


class LegacyClientIds(Protocol):
    async def load(self) -> frozenset[bytes] | None:
        """The digests of the indexed ids; None when there is no index (the deployment has not written it)."""

    async def write(self, client_ids: Iterable[str]) -> int:
        """Replace the index with these ids; how many were written."""


class MemoryLegacyClientIds:
    """The twin of a freshly written index: every id in ``clients`` (a ``MemoryClientStore``) at each load."""

    def __init__(self, clients: object) -> None:
        self._clients = clients
        self.available = True

    async def load(self) -> frozenset[bytes] | None:
        if not self.available:
            raise StoreUnavailable("legacy client id index unavailable (simulated)")
        return frozenset(id_digest(client_id) for client_id in getattr(self._clients, "_items", {}))

    async def write(self, client_ids: Iterable[str]) -> int:
        return len(list(client_ids))
