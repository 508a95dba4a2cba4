"""Who makes an admin change: the name the audit trail records, with the request id and the source address."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who makes a change: an Entra principal or ``function-key:<fingerprint>``; request id and source."""

    name: str
    request_id: str = ""
    source_address: str = ""

    @staticmethod
    def from_function_key(key: str | None, request_id: str = "", source_address: str = "") -> Actor:
        """An actor named by a short, non-reversible fingerprint of the function key (never the key)."""
        if not key:
            return Actor("function-key", request_id, source_address)
        digest = hashlib.sha256(b"gateway-admin-actor\x00" + key.encode("utf-8")).hexdigest()[:12]
        return Actor(f"function-key:{digest}", request_id, source_address)


SYSTEM_ACTOR = Actor("system")
"""Changes made by the gateway's own tooling (``make run`` seeding its demo data)."""
