"""Admin operations on client records: create, update (``enabled=False`` is the kill switch), delete.

A client names the tenants it may ask tokens for (``allowedTenants``: tenant GUIDs or ``"*"``), its scopes
and how it authenticates: client secrets (their verifiers in Key Vault, ``gateway.admin.verifiers``) or
``private_key_jwt`` (RFC 7523 §2.2, its keys as JWKS or JWKS URL). Creation writes Key Vault before Table
Storage; deletion the other way round; each side is undone when the other fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol

from gateway.admin.actor import Actor
from gateway.admin.attempts import checkpoint, commit
from gateway.admin.audit_changes import changes, client_fields
from gateway.admin.audit_trail import AuditTrail, late
from gateway.admin.client_specs import allowed_scopes, client_authentication
from gateway.admin.openapi_parts import (
    BODY_ERRORS,
    ETAG_HEADER,
    NULLABLE_TIMESTAMP,
    TIMESTAMP,
    json_body,
    page_schema,
    ref,
)
from gateway.admin.operation import Audited, Call, Operation
from gateway.admin.paging import decode_continuation, next_link, page_size_of
from gateway.admin.problems import FieldError, not_found, precondition_failed, unavailable, validation_failed
from gateway.admin.requests import PATCH_TYPES, client_param, if_match_of, read_json, with_etag
from gateway.admin.verifiers import NewSecret, Verifiers
from gateway.admin.views import client_json, timestamp
from gateway.admin.writes import conditional_write, may_write, retry_on_conflict, store_call, undo
from gateway.clock import Clock
from gateway.credentials import hint_of, new_secret
from gateway.http import Response, json_response
from gateway.oauth.client_ids import mint
from gateway.stores.errors import StoreError, StoreUnavailable
from gateway.stores.models import (
    ALL_TENANTS,
    DEFAULT_ALLOWED_SCOPES,
    TENANT_OR_ALL_PATTERN,
    Client,
    ClientAuthentication,
    Page,
    SecretMetadata,
    canonical_tenant_id,
)
from gateway.stores.protocols import ClientStore

SECRET_WARNING = "Store this secret now: it is shown only this once and cannot be recovered."

ForgetClient = Callable[[str, Iterable[str]], None]
"""This worker forgets what it cached of a client (``Services.forget_client``): its record, keys and the
verifiers of the secret ids given."""


def canonical_tenants(values: list[str]) -> tuple[str, ...]:
    """Canonical allowed-tenant list: ``("*",)`` or lowercase GUIDs, duplicates removed, order kept."""
    if ALL_TENANTS in values:
        if len(values) > 1:
            raise validation_failed([FieldError("allowedTenants", "\"*\" must be the only item")])
        return (ALL_TENANTS,)
    out: list[str] = []
    errors: list[FieldError] = []
    for index, value in enumerate(values):
        canonical = canonical_tenant_id(value)
        if canonical is None:
            errors.append(FieldError(f"allowedTenants/{index}", "must be a tenant GUID or \"*\""))
        elif canonical not in out:
            out.append(canonical)
    if errors:
        raise validation_failed(errors)
    if not out:
        raise validation_failed([FieldError("allowedTenants", "must name at least one tenant")])
    return tuple(out)


class ClientIdMinting(Protocol):
    """The key new client ids are tagged with (``gateway.oauth.client_ids.ClientIdKeys``)."""

    async def minting_key(self) -> bytes: ...


def new_client_id(key: bytes) -> str:
    """The id of a client created now: tagged with the client id key (``gateway.oauth.client_ids``), so that
    workers refuse ids they did not issue without a store call."""
    return mint(key)


class ClientRecords:
    """The client records in ``clients``, their verifiers (``verifiers``), audited in ``audit``; new ids tagged
    with ``id_keys``' key; after each change this worker forgets the client (``forget``)."""

    def __init__(self, clients: ClientStore, *, id_keys: ClientIdMinting, verifiers: Verifiers, audit: AuditTrail,
                 forget: ForgetClient, clock: Clock) -> None:
        self._clients = clients
        self._id_keys = id_keys
        self._verifiers = verifiers
        self._audit = audit
        self._forget = forget
        self._clock = clock

    async def get(self, client_id: str) -> Client:
        """The client record; 404 when there is none."""
        client = await store_call(self._clients.get(client_id))
        if client is None:
            raise not_found("No such client.")
        return client

    async def page(self, *, page_size: int = 100, continuation: str | None = None) -> Page[Client]:
        """Client records, a page at a time."""
        return await store_call(self._clients.list(page_size=page_size, continuation=continuation))

    async def create(self, actor: Actor, display_name: str, allowed_tenants: list[str] | tuple[str, ...], *,
                     enabled: bool = True, authentication: ClientAuthentication | None = None,
                     allowed_scopes: str = DEFAULT_ALLOWED_SCOPES) -> NewSecret:
        """Create a client (with its first secret unless it authenticates with ``private_key_jwt``).

        Unpacks as ``(client, secret_id, secret, expires_on)``; the last three are None for a
        ``private_key_jwt`` client, which never gets a secret.
        """
        tenants = canonical_tenants(list(allowed_tenants))
        authentication = authentication or ClientAuthentication()
        client_id = new_client_id(await store_call(self._id_keys.minting_key()))
        now = self._clock.now()
        if authentication.uses_assertions:
            secret_id = secret = name = expires_on = None
            metas: tuple[SecretMetadata, ...] = ()
            may_write()
        else:
            secret_id, secret = new_secret()
            expires_on = self._verifiers.expiry()
            name = await self._verifiers.write(client_id, secret_id, secret, expires_on)
            metas = (SecretMetadata(secret_id, hint_of(secret), now, expires_on),)
        client = Client(client_id=client_id, display_name=display_name, allowed_tenants=tenants, enabled=enabled,
                        secrets=metas, authentication=authentication, allowed_scopes=allowed_scopes)

        async def undo_verifier() -> None:
            if name is not None:
                await undo(f"delete verifier {name}", lambda: self._verifiers.delete(name))

        try:
            checkpoint()
            stored = await self._clients.create(client)
        except StoreError:
            await undo_verifier()
            raise unavailable() from None
        except Exception:  # an unexpected store error (500): the verifier goes with the client that was not stored
            await undo_verifier()
            raise
        if not commit():  # stored after the caller was answered 503: undo both halves
            await undo("remove client stored too late",
                       lambda: self._clients.delete(client_id, if_match=stored.etag))
            await undo_verifier()
            raise unavailable()
        self._forget(client_id, ())
        extra = {"secretId": secret_id} if secret_id is not None else {}
        await self._audit.record(actor, "client.create", "client", client_id, **extra,
                                 changes=changes({}, client_fields(stored)))
        return NewSecret(stored, secret_id, secret, expires_on)

    async def update(self, actor: Actor, client_id: str, *, display_name: str | None = None,
                     allowed_tenants: list[str] | tuple[str, ...] | None = None, enabled: bool | None = None,
                     authentication: ClientAuthentication | None = None, allowed_scopes: str | None = None,
                     if_match: str | None = None) -> Client:
        """Change display name, allowed tenants, enabled (``enabled=False`` is the kill switch), allowed scopes,
        or the keys of a ``private_key_jwt`` client (its JWKS or JWKS URL; the method itself cannot change: 422)."""
        tenants = canonical_tenants(list(allowed_tenants)) if allowed_tenants is not None else None
        given: dict[str, Any] = {"display_name": display_name, "allowed_tenants": tenants, "enabled": enabled,
                                 "authentication": authentication, "allowed_scopes": allowed_scopes}
        updates = {name: value for name, value in given.items() if value is not None}

        async def attempt(_number: int) -> Client:
            current = await self.get(client_id)
            if if_match is not None and if_match not in ("*", current.etag):
                raise precondition_failed()
            if authentication is not None and authentication.method != current.authentication.method:
                method = current.authentication.method
                raise validation_failed([FieldError("authentication/method", f"must stay {method}: create a new "
                                                                             "client to change how it authenticates")])
            stored = await conditional_write(
                lambda: self._clients.replace(replace(current, **updates), if_match=current.etag),
                stale=precondition_failed() if if_match is not None else None)
            if not commit():  # stored after the caller was answered 503: put the previous record back
                await undo("restore client updated too late",
                           lambda: self._clients.replace(replace(current, etag=None), if_match=stored.etag))
                self._forget(client_id, ())
                raise unavailable()
            self._forget(client_id, ())
            await self._audit.record(actor, "client.update", "client", client_id,
                                     changes=changes(client_fields(current), client_fields(stored)))
            return stored

        return await retry_on_conflict(attempt, "The client kept changing while being updated; retry.")

    async def delete(self, actor: Actor, client_id: str, *, if_match: str | None = None) -> None:
        """Delete a client record and its verifiers (restoring the record if Key Vault fails)."""

        async def attempt(_number: int) -> Client:
            current = await self.get(client_id)
            if if_match is not None and if_match not in ("*", current.etag):
                raise precondition_failed()
            await conditional_write(lambda: self._clients.delete(client_id, if_match=current.etag),
                                    stale=precondition_failed() if if_match is not None else None,
                                    gone=not_found("No such client."))
            return current

        current = await retry_on_conflict(attempt, "The client kept changing while being deleted; retry.")
        self._forget(client_id, ())
        try:
            checkpoint()  # the record's deletion landed after the caller was answered 503: it comes back
            for meta in current.secrets:
                await self._verifiers.delete(self._verifiers.name(client_id, meta.secret_id))
        except Exception as exc:
            # Verifiers already gone make their secrets unusable (failing safe); the record comes back so the
            # administrator sees the client still exists and retries the deletion (an unexpected answer too: 500).
            await undo("restore deleted client", lambda: self._clients.create(replace(current, etag=None)))
            self._forget(client_id, ())
            if isinstance(exc, StoreUnavailable):
                raise unavailable() from None
            raise
        secret_ids = [m.secret_id for m in current.secrets]
        self._forget(client_id, secret_ids)
        await self._audit.record(actor, "client.delete", "client", client_id,
                                 secretIds=secret_ids, changes=changes(client_fields(current), {}), **late())


# -- HTTP --------------------------------------------------------------------------------------------------------

async def list_clients(call: Call, clients: ClientRecords) -> Response:
    request = call.request
    size = page_size_of(request)
    page = await clients.page(page_size=size, continuation=decode_continuation(request.query_value("continuation")))
    now = call.now()
    return json_response(200, {
        "items": [client_json(c, now) for c in page.items],
        "nextLink": next_link(call.settings.public_base_url, "/manage/clients", page.continuation, size),
    })


async def create_client(call: Call, clients: ClientRecords) -> Response:
    body = read_json(call, "ClientCreate")
    authentication = client_authentication(body.get("authentication"), call.settings)
    scopes = allowed_scopes(body["allowedScopes"]) if "allowedScopes" in body else DEFAULT_ALLOWED_SCOPES
    new = await clients.create(call.actor, body["displayName"], body["allowedTenants"],
                               enabled=body.get("enabled", True), authentication=authentication,
                               allowed_scopes=scopes)
    payload: dict[str, Any] = {"clientId": new.client.client_id}
    if new.secret is not None:
        payload |= {"secretId": new.secret_id, "clientSecret": new.secret,
                    "secretExpiresOn": timestamp(new.expires_on), "warning": SECRET_WARNING}
    payload["client"] = client_json(new.client, call.now())
    location = f"{call.settings.public_base_url}/manage/clients/{new.client.client_id}"
    return with_etag(201, payload, new.client.etag, {"Location": location, "Cache-Control": "no-store"})


async def get_client(call: Call, clients: ClientRecords) -> Response:
    client = await clients.get(client_param(call.params["clientId"]))
    return with_etag(200, client_json(client, call.now()), client.etag)


async def update_client(call: Call, clients: ClientRecords) -> Response:
    cid = client_param(call.params["clientId"])
    body = read_json(call, "ClientPatch", media_types=PATCH_TYPES)
    authentication = client_authentication(body["authentication"], call.settings) \
        if "authentication" in body else None
    scopes = allowed_scopes(body["allowedScopes"]) if "allowedScopes" in body else None
    client = await clients.update(call.actor, cid, display_name=body.get("displayName"),
                                  allowed_tenants=body.get("allowedTenants"), enabled=body.get("enabled"),
                                  authentication=authentication, allowed_scopes=scopes,
                                  if_match=if_match_of(call.request))
    return with_etag(200, client_json(client, call.now()), client.etag)


async def delete_client(call: Call, clients: ClientRecords) -> Response:
    await clients.delete(call.actor, client_param(call.params["clientId"]), if_match=if_match_of(call.request))
    return Response(204)


_DISPLAY_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_ALLOWED_TENANTS = {"type": "array", "minItems": 1, "maxItems": 500, "uniqueItems": True,
                    "items": {"type": "string", "pattern": TENANT_OR_ALL_PATTERN}}
_ALLOWED_SCOPES = {"type": "string", "minLength": 1, "maxLength": 8192,
                   "description": "SMART system scopes the client may be granted, space-separated: v2 "
                                  "(`system/Patient.rs`, `system/*.cruds`) or v1 (`system/*.read`); "
                                  "stored in v2 form. Default `system/*.rs`."}
# The one response that shows a new client secret (``NewSecret``, and ``NewClient`` with its first secret).
_NEW_SECRET = {"clientId": {"type": "string"}, "secretId": {"type": "string"},
               "clientSecret": {"type": "string", "description": "Shown this once; store it now."},
               "secretExpiresOn": TIMESTAMP}

SCHEMAS: dict[str, Any] = {
    "ClientAuthSecret": {
        "type": "object",
        "additionalProperties": False,
        "required": ["method"],
        "description": "Gateway-issued client secrets (client_secret_basic or client_secret_post), the default.",
        "properties": {"method": {"type": "string", "const": "client_secret"}},
    },
    "Jwks": {
        "type": "object",
        "required": ["keys"],
        "description": "A JSON Web Key Set (RFC 7517 §5) of public keys only: RSA of 2048 bits or more, or EC "
                       "P-256/P-384, each with its own `kid`. A private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, "
                       "`oth`, `k`) is refused with 422 naming it.",
        "properties": {"keys": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "object"}}},
    },
    "ClientAuthPrivateKeyJwt": {
        "type": "object",
        "additionalProperties": False,
        "required": ["method"],
        "description": "Signed JWT client assertions (RFC 7523, SMART Backend Services): exactly one of `jwksUrl` "
                       "(https only in production; no private, loopback or metadata addresses) or `jwks`. "
                       "Assertions are signed with RS384 or ES384 (RS256/ES256 when CLIENT_ASSERTION_ALLOW_SHA256), "
                       "`aud` = the token endpoint URL or the issuer identifier, `exp` at most five minutes ahead, "
                       "a `jti` never reused. "
                       "Such a client has no secrets.",
        "properties": {
            "method": {"type": "string", "const": "private_key_jwt"},
            "jwksUrl": {"type": "string", "format": "uri", "maxLength": 2048},
            "jwks": ref("Jwks"),
        },
    },
    "ClientAuthentication": {
        "description": "How the client authenticates at the token endpoint.",
        "oneOf": [ref("ClientAuthSecret"), ref("ClientAuthPrivateKeyJwt")],
        "discriminator": {
            "propertyName": "method",
            "mapping": {
                "client_secret": "#/components/schemas/ClientAuthSecret",
                "private_key_jwt": "#/components/schemas/ClientAuthPrivateKeyJwt",
            },
        },
    },
    "ClientAuthenticationView": {
        "type": "object",
        "required": ["method"],
        "properties": {
            "method": {"type": "string", "enum": ["client_secret", "private_key_jwt"]},
            "jwksUrl": {"type": ["string", "null"]},
            "jwks": {"type": ["object", "null"], "description": "The client's public keys as registered."},
        },
    },
    "ClientCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["displayName", "allowedTenants"],
        "properties": {
            "displayName": _DISPLAY_NAME,
            "allowedTenants": {**_ALLOWED_TENANTS, "description": "Tenant GUIDs, or [\"*\"] for every tenant."},
            "enabled": {"type": "boolean", "default": True},
            "allowedScopes": _ALLOWED_SCOPES,
            "authentication": ref("ClientAuthentication"),
        },
    },
    "ClientPatch": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "description": "Fields to change. `enabled: false` is the kill switch. `authentication` replaces a "
                       "private_key_jwt client's `jwks` or `jwksUrl` (its method cannot change).",
        "properties": {
            "displayName": _DISPLAY_NAME,
            "allowedTenants": _ALLOWED_TENANTS,
            "enabled": {"type": "boolean"},
            "allowedScopes": _ALLOWED_SCOPES,
            "authentication": ref("ClientAuthentication"),
        },
    },
    "SecretMetadata": {
        "type": "object",
        "required": ["secretId", "hint", "createdOn", "expiresOn", "expired"],
        "properties": {
            "secretId": {"type": "string"},
            "hint": {"type": "string", "description": "Last characters of the secret."},
            "createdOn": TIMESTAMP,
            "expiresOn": TIMESTAMP,
            "expired": {"type": "boolean"},
        },
    },
    "Client": {
        "type": "object",
        "required": ["clientId", "displayName", "allowedTenants", "enabled", "secrets", "authentication",
                     "allowedScopes", "etag"],
        "properties": {
            "clientId": {"type": "string"},
            "displayName": {"type": "string"},
            "allowedTenants": {"type": "array", "items": {"type": "string"}},
            "enabled": {"type": "boolean"},
            "authentication": ref("ClientAuthenticationView"),
            "allowedScopes": {"type": "string"},
            "secrets": {"type": "array", "items": ref("SecretMetadata")},
            "createdOn": NULLABLE_TIMESTAMP,
            "updatedOn": NULLABLE_TIMESTAMP,
            "etag": {"type": ["string", "null"]},
        },
    },
    "ClientPage": page_schema("Client"),
    "NewSecret": {
        "type": "object",
        "required": ["clientId", "secretId", "clientSecret", "secretExpiresOn", "hint", "warning"],
        "properties": {
            **_NEW_SECRET,
            "hint": {"type": "string"},
            "warning": {"type": "string"},
        },
    },
    "NewClient": {
        "type": "object",
        "description": "A client_secret client comes with its first secret; a private_key_jwt client has none.",
        "required": ["clientId", "client"],
        "properties": {
            **_NEW_SECRET,
            "warning": {"type": "string"},
            "client": ref("Client"),
        },
    },
}

OPERATIONS: tuple[Operation[ClientRecords], ...] = (
    Operation("GET", "/manage/clients", ClientRecords, list_clients, "listClients", "List clients (paged).",
              "clients", {"200": json_body("ClientPage", "A page of clients.")},
              parameters=("pageSize", "continuation")),
    Operation("POST", "/manage/clients", ClientRecords, create_client, "createClient",
              "Create a client and its first secret (shown once), or a private_key_jwt client.", "clients",
              {"201": json_body("NewClient", "Created; store clientSecret now.",
                                {"Location": {"schema": {"type": "string"}}, **ETAG_HEADER})},
              errors=BODY_ERRORS, body="ClientCreate", audit=Audited("client.create", "client")),
    Operation("GET", "/manage/clients/{clientId}", ClientRecords, get_client, "getClient",
              "Read a client and its secrets' metadata.", "clients",
              {"200": json_body("Client", "The client.", ETAG_HEADER)}),
    Operation("PATCH", "/manage/clients/{clientId}", ClientRecords, update_client, "updateClient",
              "Change displayName, allowedTenants, enabled, allowedScopes or a private_key_jwt client's keys.",
              "clients", {"200": json_body("Client", "Updated.", ETAG_HEADER)}, errors=("412", *BODY_ERRORS),
              parameters=("ifMatch",), body="ClientPatch", audit=Audited("client.update", "client")),
    Operation("DELETE", "/manage/clients/{clientId}", ClientRecords, delete_client, "deleteClient",
              "Delete a client, its secrets and verifiers.", "clients", {"204": {"description": "Deleted."}},
              errors=("412",), parameters=("ifMatch",), audit=Audited("client.delete", "client")),
)
