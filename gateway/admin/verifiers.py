"""Client secret verifiers in Key Vault, and the one answer that shows a new secret.

A client secret is never stored: Key Vault holds a verifier of it (``gateway.credentials.make_verifier``)
named after the client and the secret id, expiring with the secret (``CLIENT_SECRET_LIFETIME_DAYS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.admin.writes import may_write, store_call
from gateway.clock import Clock
from gateway.config import Settings
from gateway.credentials import make_verifier, verifier_secret_name
from gateway.stores.models import Client
from gateway.stores.protocols import SecretStore


@dataclass(frozen=True)
class NewSecret:
    """A freshly issued client secret: shown to the caller once, never stored in clear."""

    client: Client
    secret_id: str | None  # None (and no secret) for a private_key_jwt client
    secret: str | None = field(repr=False)
    expires_on: datetime | None

    def __iter__(self) -> Iterator[Any]:
        """Unpacks as ``client, secret_id, secret, expires_on = await create_client(...)``."""
        return iter((self.client, self.secret_id, self.secret, self.expires_on))


@dataclass(frozen=True)
class VerifierSecret:
    """The Key Vault secret that verifies one client secret, exactly as it is written (name, value, attributes)."""

    name: str
    value: str = field(repr=False)
    tags: dict[str, str]
    content_type: str
    expires_on: datetime


def verifier_secret(prefix: str, client_id: str, secret_id: str, secret: str, expires_on: datetime) -> VerifierSecret:
    """The verifier secret of ``secret`` (the one builder of its shape: the admin API and seeding tools use it)."""
    return VerifierSecret(name=verifier_secret_name(prefix, client_id, secret_id), value=make_verifier(secret),
                          tags={"clientId": client_id, "secretId": secret_id, "kind": "client-secret-verifier"},
                          content_type="application/x-client-secret-verifier", expires_on=expires_on)


class Verifiers:
    """The verifiers in ``secrets``: named under ``KEY_VAULT_SECRET_PREFIX``, expiring after
    ``CLIENT_SECRET_LIFETIME_DAYS`` (``clock``)."""

    def __init__(self, secrets: SecretStore, *, settings: Settings, clock: Clock) -> None:
        self._secrets = secrets
        self._prefix = settings.key_vault_secret_prefix
        self._lifetime = timedelta(days=settings.client_secret_lifetime_days)
        self._clock = clock

    def expiry(self) -> datetime:
        """When a secret issued now expires."""
        return self._clock.now() + self._lifetime

    def name(self, client_id: str, secret_id: str) -> str:
        """The Key Vault secret holding the verifier of a client's secret."""
        return verifier_secret_name(self._prefix, client_id, secret_id)

    async def write(self, client_id: str, secret_id: str, secret: str, expires_on: datetime) -> str:
        """Store the verifier of a new secret (a first write: refused once the caller was answered); its name."""
        verifier = verifier_secret(self._prefix, client_id, secret_id, secret, expires_on)
        may_write()
        await store_call(self._secrets.set(verifier.name, verifier.value, tags=verifier.tags,
                                           content_type=verifier.content_type, expires_on=verifier.expires_on))
        return verifier.name

    async def delete(self, name: str) -> None:
        """Delete a verifier (its store errors raised as they come: the caller decides what to undo)."""
        await self._secrets.delete(name)
