"""Admin API for the provider assertion keys: ``GET /manage/provider-keys``,
``POST /manage/provider-keys/{name}/rotate`` (``name`` = ``<keyName>-rs384`` or ``<keyName>-es384``).

A rotation adds a Key Vault key version that is published in the key's JWKS at once and signs only after the
activation delay (``gateway.tokens.provider_keys``); the previous version keeps signing until then and stays
published until no assertion it signed can be valid. Rotations are audited (``provider-key.rotate``) and refused
(503) while the audit table cannot be reached, as signing-key rotations are.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from gateway.admin.actor import Actor
from gateway.admin.audit_trail import AuditTrail, late
from gateway.admin.openapi_parts import NULLABLE_TIMESTAMP, PROVIDER_KEY_PATTERN, TIMESTAMP, json_body, list_schema, ref
from gateway.admin.operation import TARGET_ID, Audited, Call, Operation
from gateway.admin.problems import not_found
from gateway.admin.requests import check_body_size
from gateway.admin.views import timestamp
from gateway.admin.writes import may_write, store_call
from gateway.http import Response, json_response
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


# -- HTTP --------------------------------------------------------------------------------------------------------

async def list_provider_keys(call: Call, keys: ProviderKeys) -> Response:
    return json_response(200, {"items": await keys.all()})


async def rotate_provider_key(call: Call, keys: ProviderKeys) -> Response:
    check_body_size(call)
    return json_response(201, await keys.rotate(call.actor, call.params["keyName"]))


SCHEMAS: dict[str, Any] = {
    "ProviderKeyVersion": {
        "type": "object",
        "required": ["kid", "version", "status", "createdOn", "activatesOn"],
        "properties": {
            "kid": {"type": "string", "description": "JWK thumbprint (RFC 7638): the `kid` of the published JWK "
                                                     "and of the assertions it signs."},
            "version": {"type": "string", "description": "Key Vault key version."},
            "status": {"type": "string", "enum": ["pending", "active", "previous", "retired"],
                       "description": "`pending`: published, signs from `activatesOn`; `active`: signs; "
                                      "`previous`: superseded, published until `retiresOn`; `retired`."},
            "createdOn": TIMESTAMP,
            "activatesOn": TIMESTAMP,
            "retiresOn": NULLABLE_TIMESTAMP,
        },
    },
    "ProviderKey": {
        "type": "object",
        "required": ["name", "keyName", "alg", "jwksUrl", "versions"],
        "properties": {
            "name": {"type": "string", "description": "`<keyName>-rs384` or `<keyName>-es384`."},
            "keyName": {"type": "string"},
            "alg": {"type": "string", "enum": ["RS384", "ES384"]},
            "jwksUrl": {"type": "string", "description": "Where providers fetch its public keys."},
            "versions": {"type": "array", "items": ref("ProviderKeyVersion")},
        },
    },
    "ProviderKeyList": list_schema("ProviderKey"),
}

_KEY_TARGET = re.compile(f"{TARGET_ID.pattern}|{PROVIDER_KEY_PATTERN[1:-1]}")
"""A refused rotation is recorded under the key's admin name (``gateway-rs384``)."""

OPERATIONS: tuple[Operation[ProviderKeys], ...] = (
    Operation("GET", "/manage/provider-keys", ProviderKeys, list_provider_keys, "listProviderKeys",
              "List the keys the gateway signs provider assertions with (privateKeyJwt routes).", "provider-keys",
              {"200": json_body("ProviderKeyList", "The keys and their versions.")}),
    Operation("POST", "/manage/provider-keys/{keyName}/rotate", ProviderKeys, rotate_provider_key,
              "rotateProviderKey",
              "Rotate: a new version is published at once and signs after the activation delay "
              "(PROVIDER_JWKS_MAX_AGE_SECONDS + worker cache + margin); the previous one stays published until no "
              "assertion it signed can be valid.", "provider-keys",
              {"201": json_body("ProviderKey", "Rotated: the key with its new version.")}, errors=("413",),
              audit=Audited("provider-key.rotate", "provider-key", _KEY_TARGET)),
)
