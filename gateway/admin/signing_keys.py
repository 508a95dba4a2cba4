"""Admin operations on the gateway's token signing keys (ES256, RFC 7518 §3.4): list and rotate.

A rotation adds a key of the next generation that signs from then on; the previous key stays published in
the JWKS until every token it signed has expired (``gateway.tokens.keyring``). Rotations are audited and
refused (503) while the audit table cannot be reached, rather than done unrecorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from gateway.admin.actor import Actor
from gateway.admin.audit_changes import REPLACED, SET
from gateway.admin.audit_trail import AuditTrail, late
from gateway.admin.openapi_parts import NULLABLE_TIMESTAMP, json_body, list_schema
from gateway.admin.operation import Audited, Call, Operation
from gateway.admin.requests import check_body_size
from gateway.admin.views import signing_key_json
from gateway.admin.writes import may_write, store_call
from gateway.http import Response, json_response

if TYPE_CHECKING:  # imports cryptography: the admin function loads it only to rotate or list keys
    from gateway.tokens.keys import SigningKeyInfo


class SigningKeyRing(Protocol):
    """What the admin API needs of the key ring's admin side (``gateway.tokens.key_admin.SigningKeyAdmin``)."""

    async def rotate(self) -> SigningKeyInfo: ...

    async def list_keys(self) -> list[SigningKeyInfo]: ...


class SigningKeys:
    """The gateway's signing keys in ``ring``; rotations audited in ``audit``."""

    def __init__(self, ring: SigningKeyRing, audit: AuditTrail) -> None:
        self._ring = ring
        self._audit = audit

    async def rotate(self, actor: Actor) -> SigningKeyInfo:
        """Add a signing key of the next generation (the previous stays published until its tokens expire)."""
        await self._audit.require()
        previous = [k.kid for k in await store_call(self._ring.list_keys()) if k.status == "active"]
        may_write()
        info = await store_call(self._ring.rotate())
        old = previous[0] if previous else None
        await self._audit.record(actor, "signing-key.rotate", "signing-key", info.kid, alg=info.alg,
                                 changes={"activeKid": {"old": old, "new": info.kid},
                                          "privateKey": {"old": SET if old else None,
                                                         "new": REPLACED if old else SET}}, **late())
        return info

    async def all(self) -> list[SigningKeyInfo]:
        """Every signing key with its status, active first."""
        return await store_call(self._ring.list_keys())


# -- HTTP --------------------------------------------------------------------------------------------------------

async def list_signing_keys(call: Call, keys: SigningKeys) -> Response:
    return json_response(200, {"items": [signing_key_json(k) for k in await keys.all()]})


async def rotate_signing_key(call: Call, keys: SigningKeys) -> Response:
    check_body_size(call)
    return json_response(201, signing_key_json(await keys.rotate(call.actor)))


SCHEMAS: dict[str, Any] = {
    "SigningKey": {
        "type": "object",
        "required": ["kid", "alg"],
        "properties": {
            "kid": {"type": "string"},
            "alg": {"type": "string"},
            "createdOn": NULLABLE_TIMESTAMP,
            "status": {"type": ["string", "null"]},
            "retireAfter": NULLABLE_TIMESTAMP,
        },
    },
    "SigningKeyList": list_schema("SigningKey"),
}

OPERATIONS: tuple[Operation[SigningKeys], ...] = (
    Operation("GET", "/manage/signing-keys", SigningKeys, list_signing_keys, "listSigningKeys",
              "List token signing keys.", "signing-keys", {"200": json_body("SigningKeyList", "The keys.")}),
    Operation("POST", "/manage/signing-keys", SigningKeys, rotate_signing_key, "rotateSigningKey",
              "Rotate: a new key signs; the previous one stays published until its tokens expire.", "signing-keys",
              {"201": json_body("SigningKey", "The new key.")}, errors=("413",),
              audit=Audited("signing-key.rotate", "signing-key")),
)
