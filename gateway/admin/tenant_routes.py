"""Admin operations on tenant routes: which provider FHIR server serves a customer's tenant.

``PUT /manage/routes/{tenantId}`` creates or replaces a route, ``DELETE`` removes it (with its stored
upstream secret). Key Vault is written before Table Storage and undone when the Table write fails;
deletions go the other way round. The route's upstream authentication is one typed value of one kind
(``gateway.upstream``); this module asks the kind, never names one: its admin validation (a 422), its
refusals (an audited 422, e.g. a managed identity only gets a token for the provider's origin), the gateway
key it signs with (created with the first route that needs it), the secret it keeps in Key Vault and the
fields that secret is bound to (``gateway.upstream.bindings``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.admin.actor import Actor
from gateway.admin.attempts import checkpoint, commit
from gateway.admin.audit_changes import changes, route_fields
from gateway.admin.audit_trail import AuditTrail, late
from gateway.admin.openapi_parts import (
    BODY_ERRORS,
    ETAG_HEADER,
    NULLABLE_TIMESTAMP,
    json_body,
    page_schema,
    ref,
)
from gateway.admin.operation import Audited, Call, Operation
from gateway.admin.paging import decode_continuation, next_link, page_size_of
from gateway.admin.problems import FieldError, not_found, precondition_failed, unavailable, validation_failed
from gateway.admin.requests import if_match_of, read_json, tenant_param, with_etag
from gateway.admin.views import route_json
from gateway.admin.writes import conditional_write, may_write, retry_on_conflict, store_call, undo
from gateway.config import FHIR_VERSIONS, MAX_CONNECT_TIMEOUT_SECONDS, MAX_READ_TIMEOUT_SECONDS, Settings
from gateway.credentials import upstream_secret_name
from gateway.http import Response, json_response
from gateway.outbound.destinations import validate_provider_url
from gateway.stores.errors import StoreUnavailable
from gateway.stores.models import BatchMode, Page, Route
from gateway.stores.protocols import RouteStore, SecretStore
from gateway.tokens.provider_keys import ProviderKeyRing, admin_name
from gateway.upstream.bindings import moved_fields, target_of
from gateway.upstream.kind import UpstreamAuthKind
from gateway.upstream.none import NoUpstreamAuth
from gateway.upstream.registry import KINDS, UpstreamAuthValue, kind_of


@dataclass(frozen=True)
class RouteSpec:
    """A validated route as the admin sends it (``PUT /manage/routes/{tenantId}``): ``upstream`` is its upstream
    authentication, ``upstream_secret`` the secret sent with a kind that keeps one in Key Vault."""

    fhir_base_url: str
    fhir_version: str
    display_name: str = ""
    enabled: bool = True
    allow_writes: bool = False
    batch_mode: BatchMode = "passthrough"
    private_network: bool = False
    connect_timeout_seconds: float | None = None
    read_timeout_seconds: float | None = None
    upstream: UpstreamAuthValue = field(default_factory=NoUpstreamAuth)
    upstream_secret: str | None = field(default=None, repr=False)

    @property
    def kind(self) -> UpstreamAuthKind[Any]:
        return kind_of(self.upstream)


@dataclass
class _RouteSave:
    """One ``PUT`` of a route: read, check, write, retried while the route changes under it."""

    owner: TenantRoutes
    actor: Actor
    tenant_id: str
    spec: RouteSpec
    if_match: str | None
    if_none_match: bool
    new_secret_name: str | None = None  # the new upstream secret, once written (undone if the PUT fails)
    stored: bool = False  # the route naming it is stored (and kept): the secret stays whatever happens next

    async def attempt(self, number: int) -> tuple[Route, bool]:
        owner, tenant_id = self.owner, self.tenant_id
        existing = await store_call(owner._routes.get(tenant_id))
        self._check_preconditions(existing)
        if number == 0:  # after the preconditions: a refused PUT creates no key
            await owner._ensure_provider_key(self.actor, tenant_id, self.spec)
        route = _route_of(tenant_id, self.spec, await self._secret_name(existing))
        pinned = self.if_match is not None or self.if_none_match
        stale = precondition_failed() if pinned else None
        if existing is None:
            stored = await conditional_write(lambda: owner._routes.create(route), stale=stale)
        else:
            stored = await conditional_write(lambda: owner._routes.replace(route, if_match=existing.etag),
                                             stale=stale)
        if not commit():  # stored after the caller was answered 503: put the previous route back
            await owner._restore_route(tenant_id, existing, stored)
            raise unavailable()  # put then deletes the new secret
        self.stored = True
        await self._finish(existing, stored)
        return stored, existing is None

    def _check_preconditions(self, existing: Route | None) -> None:
        if existing is not None and self.if_none_match:
            raise precondition_failed("A route for this tenant already exists (If-None-Match: *).")
        if self.if_match is not None and (existing is None or self.if_match not in ("*", existing.etag)):
            raise precondition_failed()

    async def _secret_name(self, existing: Route | None) -> str | None:
        """The upstream secret the route names: a new one sent with this PUT (written once), else the kept one."""
        spec = self.spec
        if spec.kind.secret_field is None:
            return None
        if spec.upstream_secret is None:
            return await self.owner._kept_secret(self.actor, self.tenant_id, spec, existing)
        if self.new_secret_name is None:
            name = upstream_secret_name(self.owner._settings.key_vault_secret_prefix, self.tenant_id,
                                        uuid.uuid4().hex[:12])
            may_write()
            self.new_secret_name = name
            await store_call(self.owner._secrets.set(name, spec.upstream_secret,
                                                     tags={"tenantId": self.tenant_id,
                                                           "kind": "upstream-client-secret"}))
        return self.new_secret_name

    async def _finish(self, existing: Route | None, stored: Route) -> None:
        """After the route is stored: drop the secret it replaced, forget the cached route, audit."""
        owner, kind = self.owner, self.spec.kind
        old_secret = existing.upstream_auth.secret_name if existing is not None else None
        if old_secret is not None and old_secret != stored.upstream_auth.secret_name:
            await undo("delete replaced upstream secret", lambda: owner._secrets.delete(old_secret))
        owner._forget(self.tenant_id)
        replaced = (kind.secret_field,) if self.new_secret_name is not None and kind.secret_field else ()
        await owner._audit.record(self.actor, "route.create" if existing is None else "route.replace", "route",
                                  self.tenant_id,
                                  changes=changes(route_fields(existing), route_fields(stored),
                                                  replaced_secrets=replaced),
                                  **_rebinding(kind, existing, stored))


def _rebinding(kind: UpstreamAuthKind[Any], existing: Route | None, stored: Route) -> dict[str, Any]:
    """Audit detail naming the fields a gateway-held key was rebound to (a bound kind with no secret to present
    again)."""
    if not kind.bound_to or kind.secret_field is not None or existing is None:
        return {}
    if existing.upstream_auth.type != stored.upstream_auth.type:
        return {}
    moved = moved_fields(kind.bound_to, target_of(existing.fhir_base_url, existing.upstream_auth),
                         target_of(stored.fhir_base_url, stored.upstream_auth))
    return {"boundFieldsMoved": moved} if moved else {}


def _route_of(tenant_id: str, spec: RouteSpec, secret_name: str | None) -> Route:
    return Route(
        tenant_id=tenant_id, fhir_base_url=spec.fhir_base_url, fhir_version=spec.fhir_version,
        display_name=spec.display_name, enabled=spec.enabled, allow_writes=spec.allow_writes,
        batch_mode=spec.batch_mode,
        connect_timeout_seconds=spec.connect_timeout_seconds, read_timeout_seconds=spec.read_timeout_seconds,
        private_network=spec.private_network, upstream_auth=spec.kind.to_record(spec.upstream, secret_name),
    )


ForgetRoute = Callable[[str], None]
"""This worker forgets its cached route of a tenant (``Services.forget_route``)."""


class TenantRoutes:
    """The tenant routes in ``routes``, their upstream secrets in ``secrets`` and the provider keys their
    ``privateKeyJwt`` kind signs with (``provider_keys``), audited in ``audit``; after each change this worker
    forgets the route (``forget``)."""

    def __init__(self, routes: RouteStore, *, secrets: SecretStore, provider_keys: ProviderKeyRing,
                 audit: AuditTrail, forget: ForgetRoute, settings: Settings) -> None:
        self._routes = routes
        self._secrets = secrets
        self._provider_keys = provider_keys
        self._audit = audit
        self._forget = forget
        self._settings = settings

    async def get(self, tenant_id: str) -> Route:
        """The tenant's route; 404 when it has none."""
        route = await store_call(self._routes.get(tenant_id))
        if route is None:
            raise not_found("No route for this tenant.")
        return route

    async def page(self, *, page_size: int = 100, continuation: str | None = None) -> Page[Route]:
        """Routes, a page at a time."""
        return await store_call(self._routes.list(page_size=page_size, continuation=continuation))

    async def put(self, actor: Actor, tenant_id: str, spec: RouteSpec, *, if_match: str | None = None,
                  if_none_match: bool = False) -> tuple[Route, bool]:
        """Create or replace a tenant's route; returns ``(route, created)``.

        A secret the kind keeps (``clientCredentials``) is written to Key Vault under
        a new name first; the old one is deleted only after the new route is stored.
        A replacement that keeps the stored secret must not move what the secret is
        bound to (``gateway.upstream.bindings``); a kind's own rule may refuse the
        value (a managed identity's scope). Both refusals are audited (``refused``)
        with their reason.
        """
        self._check_route_spec(spec)
        await self._check_refusal(actor, tenant_id, spec)
        save = _RouteSave(self, actor, tenant_id, spec, if_match, if_none_match)
        try:
            return await retry_on_conflict(save.attempt, "The route kept changing while being saved; retry.")
        except Exception:  # a refusal, an outage or an unexpected store error: no secret outlives an unsaved route
            if not save.stored:
                await self._undo_secret(save.new_secret_name)
            raise

    def _check_route_spec(self, spec: RouteSpec) -> None:
        settings = self._settings
        errors: list[FieldError] = []
        if spec.fhir_version != settings.fhir_version:
            errors.append(FieldError("fhirVersion", f"must be {settings.fhir_version}, the version this gateway "
                                                    "advertises (FHIR_VERSION)"))
        for problem in validate_provider_url(spec.fhir_base_url, settings, spec.private_network):
            errors.append(FieldError("fhirBaseUrl", problem))
        errors += [FieldError(*problem) for problem in spec.kind.problems(spec.upstream, settings=settings,
                                                                          private_network=spec.private_network)]
        if errors:
            raise validation_failed(errors)

    async def _check_refusal(self, actor: Actor, tenant_id: str, spec: RouteSpec) -> None:
        """A rule of the kind that refuses this value for this provider (e.g. a managed identity's scope for
        another resource): an audited 422 with the rule's reason."""
        refused = spec.kind.refusal(spec.upstream, fhir_base_url=spec.fhir_base_url)
        if refused is not None:
            reason, problems = refused
            raise await self._audit.refused(actor, "route.put", "route", tenant_id, reason,
                                            [FieldError(*problem) for problem in problems])

    async def _ensure_provider_key(self, actor: Actor, tenant_id: str, spec: RouteSpec) -> None:
        """Create the Key Vault key the route signs with, when it is the first route to need it (audited as
        ``provider-key.create``). Left in place if the route is then not stored: an unused key is harmless and
        the next such route uses it."""
        needed = spec.kind.provider_key(spec.upstream)
        if needed is None:
            return
        key_name, alg = needed
        may_write()
        created = await store_call(self._provider_keys.ensure(key_name, alg))
        if created is not None:
            await self._audit.record(actor, "provider-key.create", "provider-key", admin_name(key_name, alg),
                                     alg=alg, kid=created.kid, route=tenant_id)

    async def _kept_secret(self, actor: Actor, tenant_id: str, spec: RouteSpec, existing: Route | None) -> str:
        """The stored secret a replacement without a new one keeps, if nothing it is bound to moves (else 422)."""
        kind = spec.kind
        secret_field = kind.secret_field
        assert secret_field is not None  # only kinds that keep a secret get here
        stored = existing.upstream_auth.secret_name if existing is not None else None
        if existing is None or stored is None or existing.upstream_auth.type != kind.name:
            raise validation_failed([FieldError(secret_field, "is required (no secret is stored for this route yet)")])
        moved = moved_fields(kind.bound_to, target_of(existing.fhir_base_url, existing.upstream_auth),
                             target_of(spec.fhir_base_url, kind.to_record(spec.upstream, None)))
        if moved:
            errors = [FieldError(secret_field, "must be sent again: the stored secret is bound to "
                                               f"{', '.join(moved)}, which this change moves")]
            errors += [FieldError(name, f"changed: send {secret_field} with it") for name in moved]
            raise await self._audit.refused(actor, "route.put", "route", tenant_id,
                                            "secret-bound-to-changed-field", errors)
        return stored

    async def _restore_route(self, tenant_id: str, previous: Route | None, written: Route) -> None:
        """Undo a route write: delete the route it created, or put the previous one back."""
        if previous is None:
            await undo("remove route stored too late",
                       lambda: self._routes.delete(tenant_id, if_match=written.etag))
        else:
            await undo("restore route replaced too late",
                       lambda: self._routes.replace(replace(previous, etag=None), if_match=written.etag))
        self._forget(tenant_id)

    async def _undo_secret(self, name: str | None) -> None:
        if name is not None:
            await undo(f"delete new secret {name}", lambda: self._secrets.delete(name))

    async def delete(self, actor: Actor, tenant_id: str, *, if_match: str | None = None) -> None:
        """Delete a tenant's route and its upstream secret (restoring the route if Key Vault fails in any way, so the
        secret is never left in the vault with no route naming it; the caller retries the deletion)."""
        existing = await self.get(tenant_id)
        if if_match is not None and if_match not in ("*", existing.etag):
            raise precondition_failed()
        await conditional_write(lambda: self._routes.delete(tenant_id, if_match=existing.etag),
                                stale=precondition_failed(), gone=not_found("No route for this tenant."))
        secret_name = existing.upstream_auth.secret_name
        if secret_name is not None:
            try:
                checkpoint()
                await self._secrets.delete(secret_name)
            except Exception as exc:  # the route comes back: its provider credential must not outlive it alone
                await self._restore_deleted_route(tenant_id, existing, "restore deleted route")
                if isinstance(exc, StoreUnavailable):
                    raise unavailable() from None
                raise  # an answer the gateway does not expect: 500
        elif not commit():  # deleted after the caller was answered 503: the route comes back
            await self._restore_deleted_route(tenant_id, existing, "restore route deleted too late")
            raise unavailable()
        self._forget(tenant_id)
        await self._audit.record(actor, "route.delete", "route", tenant_id,
                                 changes=changes(route_fields(existing), {}), **late())

    async def _restore_deleted_route(self, tenant_id: str, existing: Route, what: str) -> None:
        await undo(what, lambda: self._routes.create(replace(existing, etag=None)))
        self._forget(tenant_id)


# -- HTTP --------------------------------------------------------------------------------------------------------

def route_spec(body: dict[str, Any]) -> RouteSpec:
    """The route the admin sent (already valid against ``RouteInput``); its ``upstreamAuth`` read by its kind."""
    timeouts = body.get("timeouts") or {}
    auth = body.get("upstreamAuth") or {"type": "none"}
    kind = KINDS[auth["type"]]  # the schema admits the registry's names only
    secret = auth.get(kind.secret_field.rpartition("/")[2]) if kind.secret_field is not None else None
    return RouteSpec(
        fhir_base_url=body["fhirBaseUrl"].rstrip("/"),
        fhir_version=body["fhirVersion"],
        display_name=body.get("displayName", ""),
        enabled=body.get("enabled", True),
        allow_writes=body.get("allowWrites", False),
        batch_mode=body.get("batchMode", "passthrough"),
        private_network=body.get("privateNetwork", False),
        connect_timeout_seconds=timeouts.get("connectSeconds"),
        read_timeout_seconds=timeouts.get("readSeconds"),
        upstream=kind.from_input(auth),
        upstream_secret=secret,
    )


async def list_routes(call: Call, routes: TenantRoutes) -> Response:
    request = call.request
    size = page_size_of(request)
    page = await routes.page(page_size=size, continuation=decode_continuation(request.query_value("continuation")))
    return json_response(200, {
        "items": [route_json(r) for r in page.items],
        "nextLink": next_link(call.settings.public_base_url, "/manage/routes", page.continuation, size),
    })


async def get_route(call: Call, routes: TenantRoutes) -> Response:
    route = await routes.get(tenant_param(call.params["tenantId"]))
    return with_etag(200, route_json(route), route.etag)


async def put_route(call: Call, routes: TenantRoutes) -> Response:
    request = call.request
    tenant_id = tenant_param(call.params["tenantId"])
    body = read_json(call, "RouteInput")
    if_none_match = request.headers.get("if-none-match", "").strip() == "*"
    route, created = await routes.put(call.actor, tenant_id, route_spec(body), if_match=if_match_of(request),
                                      if_none_match=if_none_match)
    headers = {"Location": f"{call.settings.public_base_url}/manage/routes/{tenant_id}"} if created else None
    return with_etag(201 if created else 200, route_json(route), route.etag, headers)


async def delete_route(call: Call, routes: TenantRoutes) -> Response:
    await routes.delete(call.actor, tenant_param(call.params["tenantId"]), if_match=if_match_of(call.request))
    return Response(204)


def upstream_auth_schemas() -> dict[str, Any]:
    """Each upstream authentication kind's input schema (its own fragment, ``gateway.upstream``), the
    ``UpstreamAuthInput`` choice between them and the ``UpstreamAuth`` view: all from the registry."""
    schemas: dict[str, Any] = {kind.schema_name: kind.schema() for kind in KINDS.values()}
    schemas["UpstreamAuthInput"] = {
        "oneOf": [ref(kind.schema_name) for kind in KINDS.values()],
        "discriminator": {"propertyName": "type", "mapping": {
            name: f"#/components/schemas/{kind.schema_name}" for name, kind in KINDS.items()}},
    }
    view: dict[str, Any] = {
        "type": {"type": "string", "enum": list(KINDS)},
        "tokenUrl": {"type": ["string", "null"]},
        "clientId": {"type": ["string", "null"]},
        "scope": {"type": ["string", "null"]},
        "clientSecretSet": {"type": "boolean"},
    }
    for kind in KINDS.values():
        view |= kind.view_schema()
    schemas["UpstreamAuth"] = {"type": "object", "required": ["type", "clientSecretSet"], "properties": view}
    return schemas


SCHEMAS: dict[str, Any] = {
    "Timeouts": {
        "type": "object",
        "additionalProperties": False,
        "description": "Provider timeouts in seconds; null or absent: the gateway's defaults.",
        "properties": {
            "connectSeconds": {"type": ["number", "null"], "exclusiveMinimum": 0,
                               "maximum": MAX_CONNECT_TIMEOUT_SECONDS},
            "readSeconds": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": MAX_READ_TIMEOUT_SECONDS},
        },
    },
    **upstream_auth_schemas(),
    **upstream_auth_schemas(),
    "RouteInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["fhirBaseUrl", "fhirVersion"],
        "properties": {
            "fhirBaseUrl": {"type": "string", "format": "uri", "maxLength": 2048,
                            "description": "Provider FHIR base URL: https and a public address in production "
                                           "(unless privateNetwork); http on loopback allowed in development."},
            "fhirVersion": {"type": "string", "enum": list(FHIR_VERSIONS),
                            "description": "Must equal the gateway's FHIR_VERSION (422 otherwise)."},
            "displayName": {"type": "string", "maxLength": 200},
            "enabled": {"type": "boolean", "default": True},
            "allowWrites": {"type": "boolean", "default": False},
            "batchMode": {"type": "string", "enum": ["passthrough", "fanout"], "default": "passthrough"},
            "privateNetwork": {"type": "boolean", "default": False,
                               "description": "Allow a private (VNet) provider address."},
            "timeouts": ref("Timeouts"),
            "upstreamAuth": ref("UpstreamAuthInput"),
        },
    },
    "Route": {
        "type": "object",
        "required": ["tenantId", "fhirBaseUrl", "fhirVersion", "displayName", "enabled", "allowWrites",
                     "batchMode", "privateNetwork", "timeouts", "upstreamAuth", "etag"],
        "properties": {
            "tenantId": {"type": "string", "format": "uuid"},
            "fhirBaseUrl": {"type": "string"},
            "fhirVersion": {"type": "string", "enum": list(FHIR_VERSIONS)},
            "displayName": {"type": "string"},
            "enabled": {"type": "boolean"},
            "allowWrites": {"type": "boolean"},
            "batchMode": {"type": "string", "enum": ["passthrough", "fanout"]},
            "privateNetwork": {"type": "boolean"},
            "timeouts": {
                "type": "object",
                "properties": {"connectSeconds": {"type": ["number", "null"]},
                               "readSeconds": {"type": ["number", "null"]}},
            },
            "upstreamAuth": ref("UpstreamAuth"),
            "createdOn": NULLABLE_TIMESTAMP,
            "updatedOn": NULLABLE_TIMESTAMP,
            "etag": {"type": ["string", "null"]},
        },
    },
    "RoutePage": page_schema("Route"),
}

OPERATIONS: tuple[Operation[TenantRoutes], ...] = (
    Operation("GET", "/manage/routes", TenantRoutes, list_routes, "listRoutes", "List tenant routes (paged).",
              "routes", {"200": json_body("RoutePage", "A page of routes.")}, parameters=("pageSize", "continuation")),
    Operation("GET", "/manage/routes/{tenantId}", TenantRoutes, get_route, "getRoute", "Read a tenant's route.",
              "routes", {"200": json_body("Route", "The route.", ETAG_HEADER)}),
    Operation("PUT", "/manage/routes/{tenantId}", TenantRoutes, put_route, "putRoute",
              "Create (201) or replace (200) a tenant's route.", "routes",
              {"200": json_body("Route", "Replaced.", ETAG_HEADER), "201": json_body("Route", "Created.", ETAG_HEADER)},
              errors=("412", *BODY_ERRORS), parameters=("ifMatch",), body="RouteInput",
              audit=Audited("route.put", "route")),
    Operation("DELETE", "/manage/routes/{tenantId}", TenantRoutes, delete_route, "deleteRoute",
              "Delete a tenant's route.", "routes", {"204": {"description": "Deleted."}}, errors=("412",),
              parameters=("ifMatch",), audit=Audited("route.delete", "route")),
)
