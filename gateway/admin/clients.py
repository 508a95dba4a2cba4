"""Admin operations on client records: create, update (``enabled=False`` is the kill switch), delete.

A client names the tenants it may ask tokens for (``allowedTenants``: tenant GUIDs or ``"*"``), its scopes
and how it authenticates: client secrets (their verifiers in Key Vault, ``gateway.admin.verifiers``) or
``private_key_jwt`` (RFC 7523 §2.2, its keys as JWKS or JWKS URL). Creation writes Key Vault before Table
Storage; deletion the other way round; each side is undone when the other fails.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway.admin.access import Actor
from gateway.admin.attempts import checkpoint, commit
from gateway.admin.audit_changes import changes, client_fields
from gateway.admin.audit_trail import late, record
from gateway.admin.problems import FieldError, not_found, precondition_failed, unavailable, validation_failed
from gateway.admin.verifiers import NewSecret, secret_expiry, verifier_name, write_verifier
from gateway.admin.writes import conditional_write, may_write, retry_on_conflict, store_call, undo
from gateway.credentials import hint_of, new_secret
from gateway.oauth.client_ids import mint
from gateway.services import Services
from gateway.stores.errors import StoreError, StoreUnavailable
from gateway.stores.models import (
    ALL_TENANTS,
    DEFAULT_ALLOWED_SCOPES,
    Client,
    ClientAuthentication,
    Page,
    SecretMetadata,
    canonical_tenant_id,
)


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


def new_client_id(key: bytes) -> str:
    """The id of a client created now: tagged with the client id key (``gateway.oauth.client_ids``), so that
    workers refuse ids they did not issue without a store call."""
    return mint(key)


async def get_client(services: Services, client_id: str) -> Client:
    """The client record; 404 when there is none."""
    client = await store_call(services.clients.get(client_id))
    if client is None:
        raise not_found("No such client.")
    return client


async def list_clients(services: Services, *, page_size: int = 100,
                       continuation: str | None = None) -> Page[Client]:
    """Client records, a page at a time."""
    return await store_call(services.clients.list(page_size=page_size, continuation=continuation))


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
    client_id = new_client_id(await store_call(services.client_id_keys.minting_key()))
    now = services.clock.now()
    if authentication.uses_assertions:
        secret_id = secret = name = expires_on = None
        metas: tuple[SecretMetadata, ...] = ()
        may_write()
    else:
        secret_id, secret = new_secret()
        expires_on = secret_expiry(services)
        name = await write_verifier(services, client_id, secret_id, secret, expires_on)
        metas = (SecretMetadata(secret_id, hint_of(secret), now, expires_on),)
    client = Client(client_id=client_id, display_name=display_name, allowed_tenants=tenants, enabled=enabled,
                    secrets=metas, authentication=authentication, allowed_scopes=allowed_scopes)

    async def undo_verifier() -> None:
        if name is not None:
            await undo(f"delete verifier {name}", lambda: services.secrets.delete(name))

    try:
        checkpoint()
        stored = await services.clients.create(client)
    except StoreError:
        await undo_verifier()
        raise unavailable() from None
    except Exception:  # an unexpected store error (500): the verifier goes with the client that was not stored
        await undo_verifier()
        raise
    if not commit():  # stored after the caller was answered 503: undo both halves
        await undo("remove client stored too late", lambda: services.clients.delete(client_id, if_match=stored.etag))
        await undo_verifier()
        raise unavailable()
    services.forget_client(client_id)
    extra = {"secretId": secret_id} if secret_id is not None else {}
    await record(services, actor, "client.create", "client", client_id, **extra,
                 changes=changes({}, client_fields(stored)))
    return NewSecret(stored, secret_id, secret, expires_on)


async def update_client(services: Services, actor: Actor, client_id: str, *, display_name: str | None = None,
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
        current = await get_client(services, client_id)
        if if_match is not None and if_match not in ("*", current.etag):
            raise precondition_failed()
        if authentication is not None and authentication.method != current.authentication.method:
            raise validation_failed([FieldError("authentication/method", f"must stay {current.authentication.method}: "
                                                "create a new client to change how it authenticates")])
        stored = await conditional_write(
            lambda: services.clients.replace(replace(current, **updates), if_match=current.etag),
            stale=precondition_failed() if if_match is not None else None)
        if not commit():  # stored after the caller was answered 503: put the previous record back
            await undo("restore client updated too late",
                       lambda: services.clients.replace(replace(current, etag=None), if_match=stored.etag))
            services.forget_client(client_id)
            raise unavailable()
        services.forget_client(client_id)
        await record(services, actor, "client.update", "client", client_id,
                     changes=changes(client_fields(current), client_fields(stored)))
        return stored

    return await retry_on_conflict(attempt, "The client kept changing while being updated; retry.")


async def delete_client(services: Services, actor: Actor, client_id: str, *, if_match: str | None = None) -> None:
    """Delete a client record and its verifiers (restoring the record if Key Vault fails)."""

    async def attempt(_number: int) -> Client:
        current = await get_client(services, client_id)
        if if_match is not None and if_match not in ("*", current.etag):
            raise precondition_failed()
        await conditional_write(lambda: services.clients.delete(client_id, if_match=current.etag),
                                stale=precondition_failed() if if_match is not None else None,
                                gone=not_found("No such client."))
        return current

    current = await retry_on_conflict(attempt, "The client kept changing while being deleted; retry.")
    services.forget_client(client_id)
    try:
        checkpoint()  # the record's deletion landed after the caller was answered 503: it comes back
        for meta in current.secrets:
            await services.secrets.delete(verifier_name(services, client_id, meta.secret_id))
    except Exception as exc:
        # Verifiers already gone make their secrets unusable (failing safe); the record comes back so the
        # administrator sees the client still exists and retries the deletion (an unexpected answer too: 500).
        await undo("restore deleted client", lambda: services.clients.create(replace(current, etag=None)))
        services.forget_client(client_id)
        if isinstance(exc, StoreUnavailable):
            raise unavailable() from None
        raise
    secret_ids = [m.secret_id for m in current.secrets]
    services.forget_client(client_id, secret_ids)
    await record(services, actor, "client.delete", "client", client_id,
                 secretIds=secret_ids, changes=changes(client_fields(current), {}), **late())
