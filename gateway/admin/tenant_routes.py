"""Admin operations on tenant routes: which provider FHIR server serves a customer's tenant.

``PUT /manage/routes/{tenantId}`` creates or replaces a route, ``DELETE`` removes it (with its stored
upstream secret). Key Vault is written before Table Storage and undone when the Table write fails;
deletions go the other way round. A managed identity only gets a token for the provider's origin
(``gateway.outbound.identity_scopes``); a stored provider secret stays bound to the fields its kind declares
(``gateway.admin.credential_bindings``); both refusals are audited with their reason.
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
from gateway.admin.credential_bindings import CREDENTIAL_KINDS, CredentialKind, CredentialTarget, moved_fields
from gateway.admin.problems import FieldError, not_found, precondition_failed, unavailable, validation_failed
from gateway.admin.writes import conditional_write, may_write, retry_on_conflict, store_call, undo
from gateway.config import Settings
from gateway.credentials import upstream_secret_name
from gateway.outbound.destinations import validate_provider_url
from gateway.outbound.identity_scopes import scope_problem
from gateway.stores.errors import StoreUnavailable
from gateway.stores.models import BatchMode, Page, Route, UpstreamAuth, UpstreamAuthType
from gateway.stores.protocols import RouteStore, SecretStore
from gateway.tokens.provider_keys import DEFAULT_KEY_NAME, ProviderKeyRing, admin_name


@dataclass(frozen=True)
class RouteSpec:
    """A validated route as the admin sends it (``PUT /manage/routes/{tenantId}``)."""

    fhir_base_url: str
    fhir_version: str
    display_name: str = ""
    enabled: bool = True
    allow_writes: bool = False
    batch_mode: BatchMode = "passthrough"
    private_network: bool = False
    connect_timeout_seconds: float | None = None
    read_timeout_seconds: float | None = None
    upstream_type: UpstreamAuthType = "none"
    upstream_token_url: str | None = None
    upstream_client_id: str | None = None
    upstream_scope: str | None = None
    upstream_client_secret: str | None = field(default=None, repr=False)
    upstream_algorithm: str | None = None
    upstream_key_name: str | None = None


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
            raise unavailable()  # put_route then deletes the new secret
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
        kind = CREDENTIAL_KINDS.get(self.spec.upstream_type)
        if kind is None or kind.secret_field is None:
            return None
        if self.spec.upstream_client_secret is None:
            return await self.owner._kept_secret(self.actor, self.tenant_id, self.spec, existing)
        if self.new_secret_name is None:
            name = upstream_secret_name(self.owner._settings.key_vault_secret_prefix, self.tenant_id,
                                        uuid.uuid4().hex[:12])
            may_write()
            self.new_secret_name = name
            await store_call(self.owner._secrets.set(name, self.spec.upstream_client_secret,
                                                       tags={"tenantId": self.tenant_id,
                                                             "kind": "upstream-client-secret"}))
        return self.new_secret_name

    async def _finish(self, existing: Route | None, stored: Route) -> None:
        """After the route is stored: drop the secret it replaced, forget the cached route, audit."""
        owner = self.owner
        old_secret = existing.upstream_auth.secret_name if existing is not None else None
        if old_secret is not None and old_secret != stored.upstream_auth.secret_name:
            await undo("delete replaced upstream secret", lambda: owner._secrets.delete(old_secret))
        owner._forget(self.tenant_id)
        replaced = ("upstreamAuth/clientSecret",) if self.new_secret_name is not None else ()
        await owner._audit.record(self.actor, "route.create" if existing is None else "route.replace", "route",
                     self.tenant_id,
                     changes=changes(route_fields(existing), route_fields(stored), replaced_secrets=replaced),
                     **_rebinding(CREDENTIAL_KINDS.get(self.spec.upstream_type), existing, stored))


def _rebinding(kind: CredentialKind | None, existing: Route | None, stored: Route) -> dict[str, Any]:
    """Audit detail naming the fields a gateway-held key was rebound to (nothing to present again)."""
    if kind is None or kind.secret_field is not None or existing is None:
        return {}
    if existing.upstream_auth.type != stored.upstream_auth.type:
        return {}
    moved = moved_fields(kind, _target_of_route(existing), _target_of_route(stored))
    return {"boundFieldsMoved": moved} if moved else {}


def _route_of(tenant_id: str, spec: RouteSpec, secret_name: str | None) -> Route:
    credentials = spec.upstream_type in CREDENTIAL_KINDS
    return Route(
        tenant_id=tenant_id, fhir_base_url=spec.fhir_base_url, fhir_version=spec.fhir_version,
        display_name=spec.display_name, enabled=spec.enabled, allow_writes=spec.allow_writes,
        batch_mode=spec.batch_mode,
        connect_timeout_seconds=spec.connect_timeout_seconds, read_timeout_seconds=spec.read_timeout_seconds,
        private_network=spec.private_network,
        upstream_auth=UpstreamAuth(
            type=spec.upstream_type,
            token_url=spec.upstream_token_url if credentials else None,
            client_id=spec.upstream_client_id if credentials else None,
            scope=spec.upstream_scope if spec.upstream_type != "none" else None,
            secret_name=secret_name, algorithm=_algorithm_of(spec), key_name=_key_name_of(spec)),
    )


def _target_of_spec(spec: RouteSpec) -> CredentialTarget:
    return CredentialTarget.of(spec.fhir_base_url, spec.upstream_token_url, spec.upstream_client_id,
                               _key_name_of(spec))


def _target_of_route(route: Route) -> CredentialTarget:
    return CredentialTarget.of(route.fhir_base_url, route.upstream_auth.token_url, route.upstream_auth.client_id,
                               route.upstream_auth.key_name)


def _key_name_of(spec: RouteSpec) -> str | None:
    """The provider key a ``privateKeyJwt`` route signs with (the gateway's key unless it names its own)."""
    if spec.upstream_type != "privateKeyJwt":
        return None
    return spec.upstream_key_name or DEFAULT_KEY_NAME


def _algorithm_of(spec: RouteSpec) -> str | None:
    return (spec.upstream_algorithm or "RS384") if spec.upstream_type == "privateKeyJwt" else None


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

        A ``clientCredentials`` secret is written to Key Vault under a new name
        first; the old one is deleted only after the new route is stored. A
        replacement that keeps the stored secret must not move what the secret is
        bound to (``credential_bindings``); a managed identity only ever gets a
        token for the provider's origin (``identity_scopes``). Both refusals are
        audited (``refused``) with their reason.
        """
        self._check_route_spec(spec)
        await self._check_managed_identity(actor, tenant_id, spec)
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
        if spec.upstream_type in CREDENTIAL_KINDS and spec.upstream_token_url is not None:
            for problem in validate_provider_url(spec.upstream_token_url, settings, spec.private_network):
                errors.append(FieldError("upstreamAuth/tokenUrl", problem.replace("provider URL", "token URL")))
        if errors:
            raise validation_failed(errors)

    async def _check_managed_identity(self, actor: Actor, tenant_id: str, spec: RouteSpec) -> None:
        """A managed-identity route may only ask for a token for its own provider (``identity_scopes``)."""
        if spec.upstream_type != "managedIdentity":
            return
        problem = scope_problem(spec.fhir_base_url, spec.upstream_scope)
        if problem is not None:
            raise await self._audit.refused(actor, "route.put", "route", tenant_id, "managed-identity-scope",
                                            [FieldError(*problem)])

    async def _ensure_provider_key(self, actor: Actor, tenant_id: str, spec: RouteSpec) -> None:
        """Create the Key Vault key a ``privateKeyJwt`` route signs with, when it is the first route to need it
        (audited as ``provider-key.create``). Left in place if the route is then not stored: an unused key is
        harmless and the next such route uses it."""
        key_name, alg = _key_name_of(spec), _algorithm_of(spec)
        if key_name is None or alg is None:
            return
        may_write()
        created = await store_call(self._provider_keys.ensure(key_name, alg))
        if created is not None:
            await self._audit.record(actor, "provider-key.create", "provider-key", admin_name(key_name, alg),
                                     alg=alg, kid=created.kid, route=tenant_id)

    async def _kept_secret(self, actor: Actor, tenant_id: str, spec: RouteSpec, existing: Route | None) -> str:
        """The stored secret a replacement without a new one keeps, if nothing it is bound to moves (else 422)."""
        kind = CREDENTIAL_KINDS[spec.upstream_type]
        assert kind.secret_field is not None
        stored = existing.upstream_auth.secret_name if existing is not None else None
        if existing is None or stored is None or existing.upstream_auth.type != spec.upstream_type:
            raise validation_failed([FieldError(kind.secret_field,
                                                "is required (no secret is stored for this route yet)")])
        moved = moved_fields(kind, _target_of_route(existing), _target_of_spec(spec))
        if moved:
            errors = [FieldError(kind.secret_field, "must be sent again: the stored secret is bound to "
                                                    f"{', '.join(moved)}, which this change moves")]
            errors += [FieldError(name, f"changed: send {kind.secret_field} with it") for name in moved]
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
