"""Test helpers: create clients (record + verifier) and routes directly in the stores, as the admin API will.

The token requests and forms that go with them are in ``tests.support.oauth``."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from gateway.credentials import hint_of, make_verifier, new_secret, verifier_secret_name
from gateway.services import Services
from gateway.stores.models import Client, Route, SecretMetadata
from tests.support.constants import CLIENT_ID, TENANT


async def add_secret(services: Services, client_id: str, *, lifetime_days: float = 180) -> str:
    """Add a secret to an existing client: verifier first (Key Vault), then the record (Table)."""
    secret_id, secret = new_secret()
    now = services.clock.now()
    await services.secrets.set(verifier_secret_name(services.settings.key_vault_secret_prefix, client_id, secret_id),
                               make_verifier(secret), tags={"client": client_id, "secretId": secret_id})
    client = await services.clients.get(client_id)
    meta = SecretMetadata(secret_id=secret_id, hint=hint_of(secret), created_on=now,
                          expires_on=now + timedelta(days=lifetime_days))
    await services.clients.replace(replace(client, secrets=(*client.secrets, meta)))
    return secret


async def add_client(services: Services, client_id: str = CLIENT_ID, *, tenants: tuple[str, ...] = (TENANT,),
                     enabled: bool = True, lifetime_days: float = 180) -> str:
    """Create a client with one secret; returns the secret."""
    await services.clients.create(Client(client_id=client_id, display_name=f"test {client_id}",
                                         allowed_tenants=tenants, enabled=enabled))
    return await add_secret(services, client_id, lifetime_days=lifetime_days)


async def add_route(services: Services, tenant: str = TENANT, *, enabled: bool = True) -> Route:
    return await services.routes.create(Route(tenant_id=tenant, fhir_base_url="http://127.0.0.1:9/fhir",
                                              fhir_version="STU3", display_name="test", enabled=enabled))


async def add_key_client(services: Services, client_id: str, *, jwks: dict | None = None, jwks_url: str | None = None,
                         tenants: tuple[str, ...] = (TENANT,), allowed_scopes: str = "system/*.rs",
                         enabled: bool = True) -> Client:
    """Create a private_key_jwt client (inline JWKS or JWKS URL), as the admin API stores one: no secrets."""
    import json

    from gateway.stores.models import ClientAuthentication

    auth = ClientAuthentication(method="private_key_jwt", jwks_url=jwks_url,
                                jwks=json.dumps(jwks, sort_keys=True) if jwks is not None else None)
    return await services.clients.create(Client(client_id=client_id, display_name=f"test {client_id}",
                                                allowed_tenants=tenants, enabled=enabled, authentication=auth,
                                                allowed_scopes=allowed_scopes))
