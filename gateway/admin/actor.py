"""Who makes an admin change: the name the audit trail records, with the request id and the source address."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

ACTOR_DISPLAY_NAME = "actorDisplayName"
"""Where an audit record keeps the name the actor's token claimed (its ``details``; the view shows it beside
``actor``, labelled as claimed)."""


@dataclass(frozen=True)
class Actor:
    """Who makes a change: ``name`` is the key (an Entra principal's object id, with the app id for an app, or
    ``function-key:<fingerprint>``), ``display_name`` the name its token claims (recorded in a field of its own,
    labelled as claimed); request id and source."""

    name: str
    request_id: str = ""
    source_address: str = ""
    display_name: str | None = None

    @staticmethod
    def from_function_key(key: str | None, request_id: str = "", source_address: str = "") -> Actor:
        """An actor named by a short, non-reversible fingerprint of the function key (never the key)."""
        if not key:
            return Actor("function-key", request_id, source_address)
        digest = hashlib.sha256(b"gateway-admin-actor\x00" + key.encode("utf-8")).hexdigest()[:12]
        return Actor(f"function-key:{digest}", request_id, source_address)


SYSTEM_ACTOR = Actor("system")
"""Changes made by the gateway's own tooling (``make run`` seeding its demo data)."""
