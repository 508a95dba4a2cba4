"""Admin operations on the gateway's token signing keys (ES256, RFC 7518 §3.4): list and rotate.

A rotation adds a key of the next generation that signs from then on; the previous key stays published in
the JWKS until every token it signed has expired (``gateway.tokens.keyring``). Rotations are audited and
refused (503) while the audit table cannot be reached, rather than done unrecorded.
"""

from __future__ import annotations

from typing import Protocol

from gateway.admin.access import Actor
from gateway.admin.audit_changes import REPLACED, SET
from gateway.admin.audit_trail import late, record, require_audit
from gateway.admin.writes import may_write, store_call
from gateway.services import Services
from gateway.tokens.keys import SigningKeyInfo


class SigningKeyRing(Protocol):
    """What the admin API needs of the key ring's admin side (``gateway.tokens.key_admin.SigningKeyAdmin``)."""

    async def rotate(self) -> SigningKeyInfo: ...

    async def list_keys(self) -> list[SigningKeyInfo]: ...


def _key_ring(services: Services) -> SigningKeyRing:
    return services.signing_key_admin


async def rotate_signing_key(services: Services, actor: Actor, *,
                             key_ring: SigningKeyRing | None = None) -> SigningKeyInfo:
    """Add a signing key of the next generation (the previous stays published until its tokens expire)."""
    ring = key_ring or _key_ring(services)
    await require_audit(services)
    previous = [k.kid for k in await store_call(ring.list_keys()) if k.status == "active"]
    may_write()
    info = await store_call(ring.rotate())
    old = previous[0] if previous else None
    await record(services, actor, "signing-key.rotate", "signing-key", info.kid, alg=info.alg,
                 changes={"activeKid": {"old": old, "new": info.kid},
                          "privateKey": {"old": SET if old else None, "new": REPLACED if old else SET}}, **late())
    return info


async def list_signing_keys(services: Services, *, key_ring: SigningKeyRing | None = None) -> list[SigningKeyInfo]:
    """Every signing key with its status, active first."""
    ring = key_ring or _key_ring(services)
    return await store_call(ring.list_keys())
