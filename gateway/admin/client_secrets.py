"""Admin operations on a client's secrets: issue another (at most :data:`MAX_ACTIVE_SECRETS` active, so a
secret can be rotated without downtime) and revoke one (``POST`` / ``DELETE /manage/clients/{id}/secrets``).

The verifier goes to Key Vault before the secret's metadata goes to the client record, and is deleted when
the record cannot be updated; revocation removes the metadata first, then the verifier. Two simultaneous
issues re-read the record on conflict and re-check the limit, so at most two secrets end up active.
A ``private_key_jwt`` client has no secrets (409).
"""

from __future__ import annotations

from dataclasses import replace

from gateway.admin.actor import Actor
from gateway.admin.attempts import checkpoint, commit
from gateway.admin.audit_changes import changes, client_fields
from gateway.admin.audit_trail import AuditTrail, late
from gateway.admin.clients import SECRET_WARNING, ClientRecords, ForgetClient
from gateway.admin.openapi_parts import json_body
from gateway.admin.operation import Audited, Call, Operation
from gateway.admin.problems import Problem, conflict, not_found, unavailable
from gateway.admin.requests import check_body_size, client_param, secret_param
from gateway.admin.verifiers import NewSecret, Verifiers
from gateway.admin.views import timestamp
from gateway.admin.writes import conditional_write, retry_on_conflict, undo
from gateway.clock import Clock
from gateway.credentials import hint_of, new_secret
from gateway.http import Response, json_response
from gateway.stores.errors import StoreError, StoreUnavailable
from gateway.stores.models import Client, SecretMetadata
from gateway.stores.protocols import ClientStore

MAX_ACTIVE_SECRETS = 2


def _no_secrets() -> Problem:
    return conflict("The client authenticates with private_key_jwt and has no secrets; change its keys with "
                    "PATCH (authentication.jwks or authentication.jwksUrl).")


class ClientSecrets:
    """The secrets of the clients in ``clients`` (read through ``records``), their verifiers (``verifiers``),
    audited in ``audit``; after each change this worker forgets the client (``forget``)."""

    def __init__(self, clients: ClientStore, *, records: ClientRecords, verifiers: Verifiers, audit: AuditTrail,
                 forget: ForgetClient, clock: Clock) -> None:
        self._clients = clients
        self._records = records
        self._verifiers = verifiers
        self._audit = audit
        self._forget = forget
        self._clock = clock

    def _check_room(self, client: Client) -> None:
        """409 when the client may not get another secret now."""
        if len(client.active_secrets(self._clock.now())) >= MAX_ACTIVE_SECRETS:
            raise conflict(f"The client already has {MAX_ACTIVE_SECRETS} active secrets; revoke one first.")

    async def add(self, actor: Actor, client_id: str) -> NewSecret:
        """Issue another secret (at most two active). Unpacks as ``(client, secret_id, secret, expires_on)``."""
        current = await self._records.get(client_id)
        if current.authentication.uses_assertions:
            raise _no_secrets()
        self._check_room(current)
        secret_id, secret = new_secret()
        now = self._clock.now()
        expires_on = self._verifiers.expiry()
        name = await self._verifiers.write(client_id, secret_id, secret, expires_on)
        meta = SecretMetadata(secret_id, hint_of(secret), now, expires_on)
        saved = False  # the metadata naming the verifier is stored (and kept): the verifier stays whatever happens next

        async def attempt(number: int) -> NewSecret:
            nonlocal saved
            client = current
            if number:  # the record changed: read it again and re-check the limit
                client = await self._records.get(client_id)
                self._check_room(client)
            try:
                stored = await conditional_write(
                    lambda: self._clients.replace(replace(client, secrets=(*client.secrets, meta)),
                                                     if_match=client.etag),
                    gone=not_found("No such client."))
            except StoreError:
                raise unavailable() from None
            if not commit():  # stored after the caller was answered 503: the metadata goes, then the verifier
                await undo("remove secret metadata stored too late",
                           lambda: self._clients.replace(replace(stored, secrets=client.secrets, etag=None),
                                                            if_match=stored.etag))
                self._forget(client_id, ())
                raise unavailable()
            saved = True
            self._forget(client_id, ())
            await self._audit.record(actor, "secret.add", "client", client_id, secretId=secret_id,
                                     changes=changes(client_fields(client), client_fields(stored)))
            return NewSecret(stored, secret_id, secret, expires_on)

        try:
            return await retry_on_conflict(attempt, "The client kept changing while the secret was added; retry.")
        except Exception:  # a refusal, an outage or an unexpected store error: no verifier outlives unsaved metadata
            if not saved:
                await undo(f"delete verifier {name}", lambda: self._verifiers.delete(name))
            raise

    async def revoke(self, actor: Actor, client_id: str, secret_id: str) -> Client:
        """Remove a secret's metadata, then its verifier (the metadata comes back if Key Vault fails)."""

        async def attempt(_number: int) -> tuple[Client, SecretMetadata, Client]:
            current = await self._records.get(client_id)
            if current.authentication.uses_assertions:
                raise _no_secrets()
            meta = next((s for s in current.secrets if s.secret_id == secret_id), None)
            if meta is None:
                raise not_found("The client has no secret with this id.")
            remaining = tuple(s for s in current.secrets if s.secret_id != secret_id)
            stored = await conditional_write(
                lambda: self._clients.replace(replace(current, secrets=remaining), if_match=current.etag))
            return current, meta, stored

        current, meta, stored = await retry_on_conflict(
            attempt, "The client kept changing while the secret was revoked; retry.")
        self._forget(client_id, ())
        try:
            checkpoint()  # the metadata's removal landed after the caller was answered 503: it comes back
            await self._verifiers.delete(self._verifiers.name(client_id, secret_id))
        except StoreUnavailable:
            await undo("restore revoked secret metadata", lambda: self._restore_metadata(client_id, meta))
            self._forget(client_id, ())
            raise unavailable() from None
        self._forget(client_id, [secret_id])
        await self._audit.record(actor, "secret.revoke", "client", client_id, secretId=secret_id,
                                 changes=changes(client_fields(current), client_fields(stored)), **late())
        return stored

    async def _restore_metadata(self, client_id: str, meta: SecretMetadata) -> None:
        """Put a revoked secret's metadata back (its verifier could not be deleted)."""
        latest = await self._clients.get(client_id)
        if latest is not None and all(s.secret_id != meta.secret_id for s in latest.secrets):
            await self._clients.replace(replace(latest, secrets=(*latest.secrets, meta)), if_match=latest.etag)


# -- HTTP --------------------------------------------------------------------------------------------------------

async def add_secret(call: Call, secrets: ClientSecrets) -> Response:
    cid = client_param(call.params["clientId"])
    check_body_size(call)
    new = await secrets.add(call.actor, cid)
    payload = {
        "clientId": cid,
        "secretId": new.secret_id,
        "clientSecret": new.secret,
        "secretExpiresOn": timestamp(new.expires_on),
        "hint": next(s.hint for s in new.client.secrets if s.secret_id == new.secret_id),
        "warning": SECRET_WARNING,
    }
    return json_response(201, payload, headers={"Cache-Control": "no-store"})


async def revoke_secret(call: Call, secrets: ClientSecrets) -> Response:
    await secrets.revoke(call.actor, client_param(call.params["clientId"]), secret_param(call.params["secretId"]))
    return Response(204)


SCHEMAS: dict[str, object] = {}
"""Its schemas are the clients' (``NewSecret`` beside ``NewClient``, which shares its fields)."""

OPERATIONS: tuple[Operation[ClientSecrets], ...] = (
    Operation("POST", "/manage/clients/{clientId}/secrets", ClientSecrets, add_secret, "addSecret",
              "Add a secret (at most two active; shown once).", "clients",
              {"201": json_body("NewSecret", "Created; store clientSecret now.")}, errors=("409", "413"),
              audit=Audited("secret.add", "client")),
    Operation("DELETE", "/manage/clients/{clientId}/secrets/{secretId}", ClientSecrets, revoke_secret,
              "revokeSecret", "Revoke a secret.", "clients", {"204": {"description": "Revoked."}}, errors=("409",),
              audit=Audited("secret.revoke", "client")),
)
