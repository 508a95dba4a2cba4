"""Admin operations: plain async functions over :class:`Services`, each writing an audit record.

Handlers (``gateway.admin.handlers``) call these with validated input and an
:class:`Actor`; ``make run`` seeds demo data through them too. Errors are
raised as :class:`~gateway.admin.problems.Problem` (status + problem details).

Integrity rules implemented here:

- A change touching Key Vault and Table Storage never leaves half of itself
  behind: Key Vault is written first and the Table second; when the Table
  write fails the Key Vault write is undone, and the caller gets 503 with
  ``Retry-After``. Deletions go the other way round (Table first, then Key
  Vault; if Key Vault fails the Table record is restored).
- Optimistic concurrency: client and route replacements pass the ETag they
  were read with (``if_match``); on a conflict the operation re-reads and
  re-checks its rules (so two simultaneous secret creations still end with at
  most two active secrets). A caller-supplied ``If-Match`` that is stale: 412.
- After every change this worker's directory caches are invalidated; other
  workers see it within ``CLIENT_CACHE_SECONDS`` / ``ROUTE_CACHE_SECONDS``.
- A store that hangs: the endpoint answers 503 within ``STORE_TIMEOUT_SECONDS``
  and the operation is abandoned (``gateway.admin.attempts``): ``checkpoint()``
  before each write refuses to start it, ``commit()`` after the deciding write
  says whether it landed too late and must be undone.
- Credential rules: a managed identity only gets a token for the provider's
  origin (``gateway.proxy.identity_scopes``); a stored provider secret is bound
  to the fields its kind declares (``gateway.admin.credential_bindings``). Their
  refusals are audited ``refused`` with a reason.
- Every change records ``details.changes``: each changed field, old and new
  (``gateway.admin.audit_changes``; secrets only as markers).

No secret value is ever logged, audited or put in an error.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from gateway.admin.attempts import Abandoned, answered, checkpoint, commit
from gateway.admin.audit_changes import REPLACED, SET, changes, client_fields, route_fields
from gateway.admin.credential_bindings import CREDENTIAL_KINDS, CredentialTarget, moved_fields
from gateway.admin.problems import (
    FieldError,
    Problem,
    bad_request,
    conflict,
    not_found,
    precondition_failed,
    unavailable,
    validation_failed,
)
from gateway.credentials import hint_of, make_verifier, new_secret, upstream_secret_name, verifier_secret_name
from gateway.directory import client_directory, route_directory
from gateway.oauth.assertion_auth import assertion_authenticator
from gateway.oauth.authentication import client_authenticator
from gateway.proxy.destinations import validate_provider_url
from gateway.proxy.identity_scopes import scope_problem
from gateway.proxy.provider_keys import DEFAULT_KEY_NAME, admin_name, provider_key_ring
from gateway.services import Services
from gateway.stores.errors import (
    AlreadyExists,
    InvalidContinuation,
    NotFound,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
)
from gateway.stores.models import (
    ALL_TENANTS,
    DEFAULT_ALLOWED_SCOPES,
    GUID,
    AuditRecord,
    Client,
    ClientAuthentication,
    Page,
    Route,
    SecretMetadata,
    UpstreamAuth,
    canonical_tenant_id,
)

logger = logging.getLogger("gateway.admin")

MAX_ACTIVE_SECRETS = 2
CONFLICT_RETRIES = 5
T = TypeVar("T")


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


@dataclass(frozen=True)
class RouteSpec:
    """A validated route as the admin sends it (``PUT /manage/routes/{tenantId}``)."""

    fhir_base_url: str
    fhir_version: str
    display_name: str = ""
    enabled: bool = True
    allow_writes: bool = False
    batch_mode: str = "passthrough"
    private_network: bool = False
    connect_timeout_seconds: float | None = None
    read_timeout_seconds: float | None = None
    upstream_type: str = "none"
    upstream_token_url: str | None = None
    upstream_client_id: str | None = None
    upstream_scope: str | None = None
    upstream_client_secret: str | None = field(default=None, repr=False)
    upstream_algorithm: str | None = None
    upstream_key_name: str | None = None


@dataclass(frozen=True)
class NewSecret:
    """A freshly issued client secret: shown to the caller once, never stored in clear."""

    client: Client
    secret_id: str | None  # None (and no secret) for a private_key_jwt client
    secret: str | None = field(repr=False)
    expires_on: datetime | None

    def __iter__(self):  # allows ``client, secret_id, secret, expires_on = await create_client(...)``
        return iter((self.client, self.secret_id, self.secret, self.expires_on))


class KeyRingLike(Protocol):
    async def rotate(self) -> Any: ...

    async def list_keys(self) -> list[Any]: ...


# --------------------------------------------------------------------------- helpers

async def _audit(services: Services, actor: Actor, action: str, target_type: str, target_id: str,
                 outcome: str = "success", **details: Any) -> None:
    """Append one audit record. A failure to audit is logged (the change itself already happened)."""
    record = AuditRecord(action=action, target_type=target_type, target_id=target_id, actor=actor.name,
                         timestamp=services.clock.now(), request_id=actor.request_id,
                         source_address=actor.source_address, outcome=outcome, details=details)
    try:
        await services.audit.append(record)
    except StoreError as exc:
        logger.error("audit write failed action=%s target=%s/%s request_id=%s error=%s", action, target_type,
                     target_id, actor.request_id, type(exc).__name__)


async def audit_refusal(services: Services, actor: Actor, action: str, target_type: str, target_id: str,
                        status: int, reason: str) -> None:
    """Record a change that was refused or failed (``outcome`` = ``failed:<status> <reason>``)."""
    await _audit(services, actor, action, target_type, target_id, outcome=f"failed:{status} {reason}")


async def _undo(what: str, step: Callable[[], Awaitable[Any]]) -> None:
    """Run a compensating step; log (without values) when even that fails."""
    try:
        await step()
    except StoreError as exc:
        logger.error("rollback failed: %s error=%s", what, type(exc).__name__)


def _late() -> dict[str, Any]:
    """Audit detail of an irreversible last step that landed after the caller was answered 503."""
    return {"completedAfterAnswer": True} if answered() else {}


def _may_write() -> None:
    """Before a first write (nothing to undo yet): refuse to start it once the caller has been answered."""
    try:
        checkpoint()
    except Abandoned:
        raise unavailable() from None


async def _refused(services: Services, actor: Actor, action: str, target_type: str, target_id: str, reason: str,
                   errors: list[FieldError]) -> Problem:
    """A 422 for a refused credential change, audited here like every refused change (``failed:422 <reason>``),
    with the reason and the fields in the details; never a value."""
    await _audit(services, actor, action, target_type, target_id, outcome=f"failed:422 {reason}", reason=reason,
                 fields=[e.field for e in errors])
    problem = validation_failed(errors)
    problem.audited = True
    return problem


async def _store_call(call: Awaitable[T]) -> T:
    try:
        return await call
    except StoreUnavailable:
        raise unavailable() from None
    except InvalidContinuation:
        raise bad_request("The continuation token is not valid; start the listing again.", "continuation") from None


def _secret_expiry(services: Services) -> datetime:
    return services.clock.now() + timedelta(days=services.settings.client_secret_lifetime_days)


def _secret_tags(client_id: str, secret_id: str) -> dict[str, str]:
    return {"clientId": client_id, "secretId": secret_id, "kind": "client-secret-verifier"}


def _verifier_name(services: Services, client_id: str, secret_id: str) -> str:
    return verifier_secret_name(services.settings.key_vault_secret_prefix, client_id, secret_id)


def canonical_tenants(values: list[str]) -> tuple[str, ...]:
    """Canonical allowed-tenant list: ``("*",)`` or lowercase GUIDs, duplicates removed, order kept."""
    if ALL_TENANTS in values:
        if len(values) > 1:
            raise validation_failed([FieldError("allowedTenants", "\"*\" must be the only item")])
        return (ALL_TENANTS,)
    out: list[str] = []
    errors: list[FieldError] = []
    for index, value in enumerate(values):
        canonical = canonical_tenant_id(value) if isinstance(value, str) and GUID.fullmatch(value) else None
        if canonical is None:
            errors.append(FieldError(f"allowedTenants/{index}", "must be a tenant GUID or \"*\""))
        elif canonical not in out:
            out.append(canonical)
    if errors:
        raise validation_failed(errors)
    if not out:
        raise validation_failed([FieldError("allowedTenants", "must name at least one tenant")])
    return tuple(out)


# --------------------------------------------------------------------------- routes

def _check_route_spec(services: Services, spec: RouteSpec) -> None:
    settings = services.settings
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


async def _check_managed_identity(services: Services, actor: Actor, tenant_id: str, spec: RouteSpec) -> None:
    """A managed-identity route may only ask for a token for its own provider (``identity_scopes``)."""
    if spec.upstream_type != "managedIdentity":
        return
    refused = scope_problem(spec.fhir_base_url, spec.upstream_scope)
    if refused is not None:
        raise await _refused(services, actor, "route.put", "route", tenant_id, "managed-identity-scope",
                             [FieldError(*refused)])


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


async def _ensure_provider_key(services: Services, actor: Actor, tenant_id: str, spec: RouteSpec) -> None:
    """Create the Key Vault key a ``privateKeyJwt`` route signs with, when it is the first route to need it
    (audited as ``provider-key.create``). Left in place if the route is then not stored: an unused key is
    harmless and the next such route uses it."""
    key_name, alg = _key_name_of(spec), _algorithm_of(spec)
    if key_name is None or alg is None:
        return
    _may_write()
    created = await _store_call(provider_key_ring(services).ensure(key_name, alg))
    if created is not None:
        await _audit(services, actor, "provider-key.create", "provider-key", admin_name(key_name, alg),
                     alg=alg, kid=created.kid, route=tenant_id)


async def _kept_secret(services: Services, actor: Actor, tenant_id: str, spec: RouteSpec,
                       existing: Route | None) -> str:
    """The stored secret a replacement without a new one keeps, if nothing it is bound to moves (else 422)."""
    kind = CREDENTIAL_KINDS[spec.upstream_type]
    assert kind.secret_field is not None
    stored = existing.upstream_auth.secret_name if existing is not None else None
    if existing is None or stored is None or existing.upstream_auth.type != spec.upstream_type:
        raise validation_failed([FieldError(kind.secret_field, "is required (no secret is stored for this route yet)")])
    moved = moved_fields(kind, _target_of_route(existing), _target_of_spec(spec))
    if moved:
        errors = [FieldError(kind.secret_field, "must be sent again: the stored secret is bound to "
                                                f"{', '.join(moved)}, which this change moves")]
        errors += [FieldError(name, f"changed: send {kind.secret_field} with it") for name in moved]
        raise await _refused(services, actor, "route.put", "route", tenant_id, "secret-bound-to-changed-field",
                             errors)
    return stored


async def get_route(services: Services, tenant_id: str) -> Route:
    route = await _store_call(services.routes.get(tenant_id))
    if route is None:
        raise not_found("No route for this tenant.")
    return route


async def list_routes(services: Services, *, page_size: int = 100, continuation: str | None = None) -> Page[Route]:
    return await _store_call(services.routes.list(page_size=page_size, continuation=continuation))


async def put_route(services: Services, actor: Actor, tenant_id: str, spec: RouteSpec, *,
                    if_match: str | None = None, if_none_match: bool = False) -> tuple[Route, bool]:
    """Create or replace a tenant's route; returns ``(route, created)``.

    A ``clientCredentials`` secret is written to Key Vault under a new name
    first; the old one is deleted only after the new route is stored. A
    replacement that keeps the stored secret must not move what the secret is
    bound to (``credential_bindings``); a managed identity only ever gets a
    token for the provider's origin (``identity_scopes``). Both refusals are
    audited (``refused``) with their reason.
    """
    _check_route_spec(services, spec)
    await _check_managed_identity(services, actor, tenant_id, spec)
    box: list[str] = []  # the new upstream secret's name, once written
    try:
        return await _put_route(services, actor, tenant_id, spec, if_match, if_none_match, box)
    except Problem:
        await _undo_secret(services, box[0] if box else None)
        raise


async def _put_route(services: Services, actor: Actor, tenant_id: str, spec: RouteSpec, if_match: str | None,
                     if_none_match: bool, box: list[str]) -> tuple[Route, bool]:
    new_secret_name: str | None = None
    for attempt in range(CONFLICT_RETRIES):
        existing = await _store_call(services.routes.get(tenant_id))
        if existing is not None and if_none_match:
            raise precondition_failed("A route for this tenant already exists (If-None-Match: *).")
        if if_match is not None and (existing is None or (if_match != "*" and if_match != existing.etag)):
            raise precondition_failed()
        old_secret = existing.upstream_auth.secret_name if existing is not None else None
        if attempt == 0:  # after the preconditions: a refused PUT creates no key
            await _ensure_provider_key(services, actor, tenant_id, spec)

        secret_name: str | None = None
        kind = CREDENTIAL_KINDS.get(spec.upstream_type)
        if kind is not None and kind.secret_field is not None:
            if spec.upstream_client_secret is not None:
                if new_secret_name is None:
                    new_secret_name = upstream_secret_name(services.settings.key_vault_secret_prefix, tenant_id,
                                                           uuid.uuid4().hex[:12])
                    _may_write()
                    box.append(new_secret_name)
                    await _store_call(services.secrets.set(
                        new_secret_name, spec.upstream_client_secret,
                        tags={"tenantId": tenant_id, "kind": "upstream-client-secret"}))
                secret_name = new_secret_name
            else:
                secret_name = await _kept_secret(services, actor, tenant_id, spec, existing)
        route = Route(
            tenant_id=tenant_id, fhir_base_url=spec.fhir_base_url, fhir_version=spec.fhir_version,
            display_name=spec.display_name, enabled=spec.enabled, allow_writes=spec.allow_writes,
            batch_mode=spec.batch_mode,  # type: ignore[arg-type]
            connect_timeout_seconds=spec.connect_timeout_seconds, read_timeout_seconds=spec.read_timeout_seconds,
            private_network=spec.private_network,
            upstream_auth=UpstreamAuth(
                type=spec.upstream_type,  # type: ignore[arg-type]
                token_url=spec.upstream_token_url if spec.upstream_type in CREDENTIAL_KINDS else None,
                client_id=spec.upstream_client_id if spec.upstream_type in CREDENTIAL_KINDS else None,
                scope=spec.upstream_scope if spec.upstream_type != "none" else None,
                secret_name=secret_name, algorithm=_algorithm_of(spec), key_name=_key_name_of(spec)),
        )
        try:
            checkpoint()
            if existing is None:
                stored = await services.routes.create(route)
            else:
                stored = await services.routes.replace(route, if_match=existing.etag)
        except (AlreadyExists, PreconditionFailed, NotFound):
            if if_match is not None or if_none_match:
                await _undo_secret(services, new_secret_name)
                raise precondition_failed() from None
            continue  # changed under us: read again and retry
        except StoreUnavailable:
            await _undo_secret(services, new_secret_name)
            raise unavailable() from None
        if not commit():  # stored after the caller was answered 503: put the previous route back
            await _restore_route(services, tenant_id, existing, stored)
            raise unavailable()  # put_route then deletes the new secret
        if old_secret is not None and old_secret != stored.upstream_auth.secret_name:
            await _undo("delete replaced upstream secret", lambda name=old_secret: services.secrets.delete(name))
        route_directory(services).invalidate(tenant_id)
        created = existing is None
        replaced = ("upstreamAuth/clientSecret",) if new_secret_name is not None else ()
        extra: dict[str, Any] = {}
        if (kind is not None and kind.secret_field is None and existing is not None
                and existing.upstream_auth.type == spec.upstream_type):
            moved = moved_fields(kind, _target_of_route(existing), _target_of_route(stored))
            if moved:  # a gateway-held key: nothing to present again, but the rebinding is named
                extra["boundFieldsMoved"] = moved
        await _audit(services, actor, "route.create" if created else "route.replace", "route", tenant_id,
                     changes=changes(route_fields(existing), route_fields(stored), replaced_secrets=replaced),
                     **extra)
        return stored, created
    await _undo_secret(services, new_secret_name)
    raise conflict("The route kept changing while being saved; retry.")


async def _restore_route(services: Services, tenant_id: str, previous: Route | None, written: Route) -> None:
    """Undo a route write: delete the route it created, or put the previous one back."""
    if previous is None:
        await _undo("remove route stored too late",
                    lambda: services.routes.delete(tenant_id, if_match=written.etag))
    else:
        await _undo("restore route replaced too late",
                    lambda: services.routes.replace(replace(previous, etag=None), if_match=written.etag))
    route_directory(services).invalidate(tenant_id)


async def _undo_secret(services: Services, name: str | None) -> None:
    if name is not None:
        await _undo(f"delete new secret {name}", lambda: services.secrets.delete(name))


async def delete_route(services: Services, actor: Actor, tenant_id: str, *, if_match: str | None = None) -> None:
    """Delete a tenant's route and its upstream secret (restoring the route if Key Vault fails)."""
    existing = await get_route(services, tenant_id)
    if if_match is not None and if_match not in ("*", existing.etag):
        raise precondition_failed()
    try:
        checkpoint()
        await services.routes.delete(tenant_id, if_match=existing.etag)
    except PreconditionFailed:
        raise precondition_failed() from None
    except NotFound:
        raise not_found("No route for this tenant.") from None
    except StoreUnavailable:
        raise unavailable() from None
    secret_name = existing.upstream_auth.secret_name
    if secret_name is not None:
        try:
            checkpoint()
            await services.secrets.delete(secret_name)
        except StoreUnavailable:
            await _undo("restore deleted route", lambda: services.routes.create(replace(existing, etag=None)))
            route_directory(services).invalidate(tenant_id)
            raise unavailable() from None
    elif not commit():  # deleted after the caller was answered 503: the route comes back
        await _undo("restore route deleted too late", lambda: services.routes.create(replace(existing, etag=None)))
        route_directory(services).invalidate(tenant_id)
        raise unavailable()
    route_directory(services).invalidate(tenant_id)
    await _audit(services, actor, "route.delete", "route", tenant_id,
                 changes=changes(route_fields(existing), {}), **_late())


# --------------------------------------------------------------------------- clients

async def get_client(services: Services, client_id: str) -> Client:
    client = await _store_call(services.clients.get(client_id))
    if client is None:
        raise not_found("No such client.")
    return client


async def list_clients(services: Services, *, page_size: int = 100,
                       continuation: str | None = None) -> Page[Client]:
    return await _store_call(services.clients.list(page_size=page_size, continuation=continuation))


async def _write_verifier(services: Services, client_id: str, secret_id: str, secret: str,
                          expires_on: datetime) -> str:
    name = _verifier_name(services, client_id, secret_id)
    _may_write()
    await _store_call(services.secrets.set(name, make_verifier(secret), tags=_secret_tags(client_id, secret_id),
                                           content_type="application/x-client-secret-verifier",
                                           expires_on=expires_on))
    return name


async def create_client(services: Services, actor: Actor, display_name: str,
                        allowed_tenants: list[str] | tuple[str, ...], *, enabled: bool = True,
                        authentication: ClientAuthentication | None = None,
                        allowed_scopes: str = DEFAULT_ALLOWED_SCOPES) -> NewSecret:
    """Create a client (with its first secret unless it authenticates with ``private_key_jwt``).

    Unpacks as ``(client, secret_id, secret, expires_on)``; the last three are None for a
    ``private_key_jwt`` client, which never gets a secret.
    """
    tenants = canonical_tenants(list(allowed_tenants))
    authentication = authentication or ClientAuthentication()
    client_id = str(uuid.uuid4())
    now = services.clock.now()
    if authentication.uses_assertions:
        secret_id = secret = name = expires_on = None
        metas: tuple[SecretMetadata, ...] = ()
        _may_write()
    else:
        secret_id, secret = new_secret()
        expires_on = _secret_expiry(services)
        name = await _write_verifier(services, client_id, secret_id, secret, expires_on)
        metas = (SecretMetadata(secret_id, hint_of(secret), now, expires_on),)
    client = Client(client_id=client_id, display_name=display_name, allowed_tenants=tenants, enabled=enabled,
                    secrets=metas, authentication=authentication, allowed_scopes=allowed_scopes)

    async def undo_verifier() -> None:
        if name is not None:
            await _undo(f"delete verifier {name}", lambda: services.secrets.delete(name))

    try:
        checkpoint()
        stored = await services.clients.create(client)
    except StoreError:
        await undo_verifier()
        raise unavailable() from None
    if not commit():  # stored after the caller was answered 503: undo both halves
        await _undo("remove client stored too late", lambda: services.clients.delete(client_id, if_match=stored.etag))
        await undo_verifier()
        raise unavailable()
    client_directory(services).invalidate(client_id)
    extra = {"secretId": secret_id} if secret_id is not None else {}
    await _audit(services, actor, "client.create", "client", client_id, **extra,
                 changes=changes({}, client_fields(stored)))
    return NewSecret(stored, secret_id, secret, expires_on)


async def update_client(services: Services, actor: Actor, client_id: str, *, display_name: str | None = None,
                        allowed_tenants: list[str] | tuple[str, ...] | None = None, enabled: bool | None = None,
                        authentication: ClientAuthentication | None = None, allowed_scopes: str | None = None,
                        if_match: str | None = None) -> Client:
    """Change display name, allowed tenants, enabled (``enabled=False`` is the kill switch), allowed scopes,
    or the keys of a ``private_key_jwt`` client (its JWKS or JWKS URL; the method itself cannot change: 422)."""
    tenants = canonical_tenants(list(allowed_tenants)) if allowed_tenants is not None else None
    updates: dict[str, Any] = {}
    if display_name is not None:
        updates["display_name"] = display_name
    if tenants is not None:
        updates["allowed_tenants"] = tenants
    if enabled is not None:
        updates["enabled"] = enabled
    if authentication is not None:
        updates["authentication"] = authentication
    if allowed_scopes is not None:
        updates["allowed_scopes"] = allowed_scopes
    for _attempt in range(CONFLICT_RETRIES):
        current = await get_client(services, client_id)
        if if_match is not None and if_match not in ("*", current.etag):
            raise precondition_failed()
        if authentication is not None and authentication.method != current.authentication.method:
            raise validation_failed([FieldError("authentication/method", f"must stay {current.authentication.method}: "
                                                "create a new client to change how it authenticates")])
        try:
            checkpoint()
            stored = await services.clients.replace(replace(current, **updates), if_match=current.etag)
        except (PreconditionFailed, NotFound):
            if if_match is not None:
                raise precondition_failed() from None
            continue
        except StoreUnavailable:
            raise unavailable() from None
        if not commit():  # stored after the caller was answered 503: put the previous record back
            await _undo("restore client updated too late",
                        lambda previous=current, written=stored: services.clients.replace(
                            replace(previous, etag=None), if_match=written.etag))
            _forget_client(services, client_id)
            raise unavailable()
        _forget_client(services, client_id)
        await _audit(services, actor, "client.update", "client", client_id,
                     changes=changes(client_fields(current), client_fields(stored)))
        return stored
    raise conflict("The client kept changing while being updated; retry.")


def _forget_client(services: Services, client_id: str) -> None:
    """This worker's caches forget the client: its record and its fetched JWKS (other workers: their TTLs)."""
    client_directory(services).invalidate(client_id)
    assertion_authenticator(services).forget(client_id)


async def delete_client(services: Services, actor: Actor, client_id: str, *, if_match: str | None = None) -> None:
    """Delete a client record and its verifiers (restoring the record if Key Vault fails)."""
    for _attempt in range(CONFLICT_RETRIES):
        current = await get_client(services, client_id)
        if if_match is not None and if_match not in ("*", current.etag):
            raise precondition_failed()
        try:
            checkpoint()
            await services.clients.delete(client_id, if_match=current.etag)
        except PreconditionFailed:
            if if_match is not None:
                raise precondition_failed() from None
            continue
        except NotFound:
            raise not_found("No such client.") from None
        except StoreUnavailable:
            raise unavailable() from None
        break
    else:
        raise conflict("The client kept changing while being deleted; retry.")
    _forget_client(services, client_id)
    try:
        checkpoint()  # the record's deletion landed after the caller was answered 503: it comes back
        for meta in current.secrets:
            await services.secrets.delete(_verifier_name(services, client_id, meta.secret_id))
    except StoreUnavailable:
        # Verifiers already gone make their secrets unusable (failing safe); the record comes back so the
        # administrator sees the client still exists and retries the deletion.
        await _undo("restore deleted client", lambda: services.clients.create(replace(current, etag=None)))
        client_directory(services).invalidate(client_id)
        raise unavailable() from None
    for meta in current.secrets:
        client_authenticator(services).invalidate(client_id, meta.secret_id)
    await _audit(services, actor, "client.delete", "client", client_id,
                 secretIds=[m.secret_id for m in current.secrets], changes=changes(client_fields(current), {}),
                 **_late())


async def add_secret(services: Services, actor: Actor, client_id: str) -> NewSecret:
    """Issue another secret (at most two active). Unpacks as ``(client, secret_id, secret, expires_on)``."""
    current = await get_client(services, client_id)
    if current.authentication.uses_assertions:
        raise _no_secrets()
    if len(current.active_secrets(services.clock.now())) >= MAX_ACTIVE_SECRETS:
        raise _too_many_secrets()
    secret_id, secret = new_secret()
    now = services.clock.now()
    expires_on = _secret_expiry(services)
    name = await _write_verifier(services, client_id, secret_id, secret, expires_on)
    meta = SecretMetadata(secret_id, hint_of(secret), now, expires_on)

    async def undo() -> None:
        await _undo(f"delete verifier {name}", lambda: services.secrets.delete(name))

    for attempt in range(CONFLICT_RETRIES):
        if attempt:
            try:
                current = await services.clients.get(client_id)
            except StoreUnavailable:
                await undo()
                raise unavailable() from None
            if current is None:
                await undo()
                raise not_found("No such client.")
            if len(current.active_secrets(services.clock.now())) >= MAX_ACTIVE_SECRETS:
                await undo()
                raise _too_many_secrets()
        try:
            checkpoint()
            stored = await services.clients.replace(replace(current, secrets=(*current.secrets, meta)),
                                                    if_match=current.etag)
        except PreconditionFailed:
            continue
        except NotFound:
            await undo()
            raise not_found("No such client.") from None
        except StoreError:
            await undo()
            raise unavailable() from None
        if not commit():  # stored after the caller was answered 503: the metadata goes, then the verifier
            await _undo("remove secret metadata stored too late",
                        lambda previous=current, written=stored: services.clients.replace(
                            replace(written, secrets=previous.secrets, etag=None), if_match=written.etag))
            client_directory(services).invalidate(client_id)
            await undo()
            raise unavailable()
        client_directory(services).invalidate(client_id)
        await _audit(services, actor, "secret.add", "client", client_id, secretId=secret_id,
                     changes=changes(client_fields(current), client_fields(stored)))
        return NewSecret(stored, secret_id, secret, expires_on)
    await undo()
    raise conflict("The client kept changing while the secret was added; retry.")


def _no_secrets() -> Problem:
    return conflict("The client authenticates with private_key_jwt and has no secrets; change its keys with "
                    "PATCH (authentication.jwks or authentication.jwksUrl).")


def _too_many_secrets() -> Problem:
    return conflict(f"The client already has {MAX_ACTIVE_SECRETS} active secrets; revoke one first.")


async def revoke_secret(services: Services, actor: Actor, client_id: str, secret_id: str) -> Client:
    """Remove a secret's metadata, then its verifier (the metadata comes back if Key Vault fails)."""
    for _attempt in range(CONFLICT_RETRIES):
        current = await get_client(services, client_id)
        if current.authentication.uses_assertions:
            raise _no_secrets()
        meta = next((s for s in current.secrets if s.secret_id == secret_id), None)
        if meta is None:
            raise not_found("The client has no secret with this id.")
        remaining = tuple(s for s in current.secrets if s.secret_id != secret_id)
        try:
            checkpoint()
            stored = await services.clients.replace(replace(current, secrets=remaining), if_match=current.etag)
        except (PreconditionFailed, NotFound):
            continue
        except StoreUnavailable:
            raise unavailable() from None
        break
    else:
        raise conflict("The client kept changing while the secret was revoked; retry.")
    client_directory(services).invalidate(client_id)
    try:
        checkpoint()  # the metadata's removal landed after the caller was answered 503: it comes back
        await services.secrets.delete(_verifier_name(services, client_id, secret_id))
    except StoreUnavailable:
        async def restore() -> None:
            latest = await services.clients.get(client_id)
            if latest is not None and all(s.secret_id != secret_id for s in latest.secrets):
                await services.clients.replace(replace(latest, secrets=(*latest.secrets, meta)),
                                               if_match=latest.etag)
        await _undo("restore revoked secret metadata", restore)
        client_directory(services).invalidate(client_id)
        raise unavailable() from None
    client_authenticator(services).invalidate(client_id, secret_id)
    await _audit(services, actor, "secret.revoke", "client", client_id, secretId=secret_id,
                 changes=changes(client_fields(current), client_fields(stored)), **_late())
    return stored


# --------------------------------------------------------------------------- signing keys

def _key_ring(services: Services) -> KeyRingLike:
    from gateway.tokens.keyring import key_ring

    return key_ring(services)


async def rotate_signing_key(services: Services, actor: Actor, *, key_ring: KeyRingLike | None = None) -> Any:
    """Add a signing key of the next generation (the previous stays published until its tokens expire)."""
    ring = key_ring or _key_ring(services)
    # Key Vault alone could rotate, but the change must be audited: refuse it (503) while the audit table
    # cannot be reached rather than rotate unrecorded (found by tests/faults with Azurite stopped).
    await _store_call(services.audit.query(page_size=1))
    previous = [k.kid for k in await _store_call(ring.list_keys()) if getattr(k, "status", None) == "active"]
    _may_write()
    info = await _store_call(ring.rotate())
    old = previous[0] if previous else None
    await _audit(services, actor, "signing-key.rotate", "signing-key", info.kid, alg=info.alg,
                 changes={"activeKid": {"old": old, "new": info.kid},
                          "privateKey": {"old": SET if old else None, "new": REPLACED if old else SET}}, **_late())
    return info


async def list_signing_keys(services: Services, *, key_ring: KeyRingLike | None = None) -> list[Any]:
    ring = key_ring or _key_ring(services)
    return await _store_call(ring.list_keys())


# --------------------------------------------------------------------------- audit

async def list_audit(services: Services, *, since: datetime | None = None, until: datetime | None = None,
                     page_size: int = 100, continuation: str | None = None) -> Page[AuditRecord]:
    return await _store_call(services.audit.query(since=since, until=until, page_size=page_size,
                                                  continuation=continuation))
