"""Admin operations on a client's secrets: issue another (at most :data:`MAX_ACTIVE_SECRETS` active, so a
secret can be rotated without downtime) and revoke one (``POST`` / ``DELETE /manage/clients/{id}/secrets``).

The verifier goes to Key Vault before the secret's metadata goes to the client record, and is deleted when
the record cannot be updated; revocation removes the metadata first, then the verifier. Two simultaneous
issues re-read the record on conflict and re-check the limit, so at most two secrets end up active.
A ``private_key_jwt`` client has no secrets (409).
"""

from __future__ import annotations

from dataclasses import replace

from gateway.admin.access import Actor
from gateway.admin.attempts import checkpoint, commit
from gateway.admin.audit_changes import changes, client_fields
from gateway.admin.audit_trail import late, record
from gateway.admin.clients import get_client
from gateway.admin.problems import Problem, conflict, not_found, unavailable
from gateway.admin.verifiers import NewSecret, secret_expiry, verifier_name, write_verifier
from gateway.admin.writes import conditional_write, retry_on_conflict, undo
from gateway.credentials import hint_of, new_secret
from gateway.services import Services
from gateway.stores.errors import StoreError, StoreUnavailable
from gateway.stores.models import Client, SecretMetadata

MAX_ACTIVE_SECRETS = 2


def _no_secrets() -> Problem:
    return conflict("The client authenticates with private_key_jwt and has no secrets; change its keys with "
                    "PATCH (authentication.jwks or authentication.jwksUrl).")


def _check_room(services: Services, client: Client) -> None:
    """409 when the client may not get another secret now."""
    if len(client.active_secrets(services.clock.now())) >= MAX_ACTIVE_SECRETS:
        raise conflict(f"The client already has {MAX_ACTIVE_SECRETS} active secrets; revoke one first.")


async def add_secret(services: Services, actor: Actor, client_id: str) -> NewSecret:
    """Issue another secret (at most two active). Unpacks as ``(client, secret_id, secret, expires_on)``."""
    current = await get_client(services, client_id)
    if current.authentication.uses_assertions:
        raise _no_secrets()
    _check_room(services, current)
    secret_id, secret = new_secret()
    now = services.clock.now()
    expires_on = secret_expiry(services)
    name = await write_verifier(services, client_id, secret_id, secret, expires_on)
    meta = SecretMetadata(secret_id, hint_of(secret), now, expires_on)
    saved = False  # the metadata naming the verifier is stored (and kept): the verifier stays whatever happens next

    async def attempt(number: int) -> NewSecret:
        nonlocal saved
        client = current
        if number:  # the record changed: read it again and re-check the limit
            client = await get_client(services, client_id)
            _check_room(services, client)
        try:
            stored = await conditional_write(
                lambda: services.clients.replace(replace(client, secrets=(*client.secrets, meta)),
                                                 if_match=client.etag),
                gone=not_found("No such client."))
        except StoreError:
            raise unavailable() from None
        if not commit():  # stored after the caller was answered 503: the metadata goes, then the verifier
            await undo("remove secret metadata stored too late",
                       lambda: services.clients.replace(replace(stored, secrets=client.secrets, etag=None),
                                                        if_match=stored.etag))
            services.forget_client(client_id)
            raise unavailable()
        saved = True
        services.forget_client(client_id)
        await record(services, actor, "secret.add", "client", client_id, secretId=secret_id,
                     changes=changes(client_fields(client), client_fields(stored)))
        return NewSecret(stored, secret_id, secret, expires_on)

    try:
        return await retry_on_conflict(attempt, "The client kept changing while the secret was added; retry.")
    except Exception:  # a refusal, an outage or an unexpected store error: no verifier outlives unsaved metadata
        if not saved:
            await undo(f"delete verifier {name}", lambda: services.secrets.delete(name))
        raise


async def revoke_secret(services: Services, actor: Actor, client_id: str, secret_id: str) -> Client:
    """Remove a secret's metadata, then its verifier (the metadata comes back if Key Vault fails)."""

    async def attempt(_number: int) -> tuple[Client, SecretMetadata, Client]:
        current = await get_client(services, client_id)
        if current.authentication.uses_assertions:
            raise _no_secrets()
        meta = next((s for s in current.secrets if s.secret_id == secret_id), None)
        if meta is None:
            raise not_found("The client has no secret with this id.")
        remaining = tuple(s for s in current.secrets if s.secret_id != secret_id)
        stored = await conditional_write(
            lambda: services.clients.replace(replace(current, secrets=remaining), if_match=current.etag))
        return current, meta, stored

    current, meta, stored = await retry_on_conflict(
        attempt, "The client kept changing while the secret was revoked; retry.")
    services.forget_client(client_id)
    try:
        checkpoint()  # the metadata's removal landed after the caller was answered 503: it comes back
        await services.secrets.delete(verifier_name(services, client_id, secret_id))
    except StoreUnavailable:
        await undo("restore revoked secret metadata", lambda: _restore_metadata(services, client_id, meta))
        services.forget_client(client_id)
        raise unavailable() from None
    services.forget_client(client_id, [secret_id])
    await record(services, actor, "secret.revoke", "client", client_id, secretId=secret_id,
                 changes=changes(client_fields(current), client_fields(stored)), **late())
    return stored


async def _restore_metadata(services: Services, client_id: str, meta: SecretMetadata) -> None:
    """Put a revoked secret's metadata back (its verifier could not be deleted)."""
    latest = await services.clients.get(client_id)
    if latest is not None and all(s.secret_id != meta.secret_id for s in latest.secrets):
        await services.clients.replace(replace(latest, secrets=(*latest.secrets, meta)), if_match=latest.etag)
