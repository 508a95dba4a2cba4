"""Admin API for the provider assertion keys: ``GET /manage/provider-keys``,
``POST /manage/provider-keys/{name}/rotate`` (``name`` = ``<keyName>-rs384`` or ``<keyName>-es384``).

A rotation adds a Key Vault key version that is published in the key's JWKS at once and signs only after the
activation delay (``gateway.tokens.provider_keys``); the previous version keeps signing until then and stays
published until no assertion it signed can be valid. Rotations are audited (``provider-key.rotate``) and refused
(503) while the audit table cannot be reached, as signing-key rotations are.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gateway.admin.actor import Actor
from gateway.admin.audit_trail import AuditTrail, late
from gateway.admin.problems import not_found
from gateway.admin.views import timestamp
from gateway.admin.writes import may_write, store_call
from gateway.stores.errors import NotFound
from gateway.tokens.provider_keys import DEFAULT_KEY_NAME, ProviderKeyRing, VersionState, admin_name, parse_admin_name


def version_json(state: VersionState) -> dict[str, Any]:
    return {"kid": state.key.kid, "version": state.key.version, "status": state.status,
            "createdOn": timestamp(state.key.created_on), "activatesOn": timestamp(state.activates_at),
            "retiresOn": timestamp(state.retires_at)}


class ProviderKeys:
    """The provider assertion keys of ``ring`` as the admin sees them (their JWKS URLs on ``public_base_url``);
    rotations audited in ``audit``."""

    def __init__(self, ring: ProviderKeyRing, *, audit: AuditTrail, public_base_url: str) -> None:
        self._ring = ring
        self._audit = audit
        self._public_base_url = public_base_url

    def jwks_url(self, key_name: str) -> str:
        """The URL a provider registers as the gateway's JWKS URL for this key name."""
        base = f"{self._public_base_url}/oauth2/provider-jwks"
        return base if key_name == DEFAULT_KEY_NAME else f"{base}?key={quote(key_name, safe='')}"

    async def key_json(self, key_name: str, alg: str) -> dict[str, Any]:
        states = await store_call(self._ring.states(key_name, alg, fresh=True))
        return {"name": admin_name(key_name, alg), "keyName": key_name, "alg": alg,
                "jwksUrl": self.jwks_url(key_name), "versions": [version_json(s) for s in states]}

    async def all(self) -> list[dict[str, Any]]:
        """Every provider key with its versions."""
        names = await store_call(self._ring.key_names())
        return [await self.key_json(k, a) for k, a in names]

    async def rotate(self, actor: Actor, name: str) -> dict[str, Any]:
        """A new version of the key ``name`` (``<keyName>-rs384``); 404 for a key that does not exist."""
        parsed = parse_admin_name(name)
        if parsed is None:
            raise not_found("No such provider key.")
        key_name, alg = parsed
        ring = self._ring
        previous = [s for s in await store_call(ring.states(key_name, alg, fresh=True)) if s.status == "active"]
        if not previous:
            raise not_found("No such provider key (it is created when the first route that needs it is saved).")
        # Audited or not done: refuse (503) while the audit table cannot be reached.
        await self._audit.require()
        may_write()
        try:
            created = await store_call(ring.rotate(key_name, alg))
        except NotFound:
            raise not_found("No such provider key.") from None
        payload = await self.key_json(key_name, alg)
        pending = next((v for v in payload["versions"] if v["kid"] == created.kid), None)
        await self._audit.record(actor, "provider-key.rotate", "provider-key", admin_name(key_name, alg), alg=alg,
                                 changes={"newestKid": {"old": previous[-1].key.kid, "new": created.kid}},
                                 activatesOn=pending["activatesOn"] if pending else None, **late())
        return payload
