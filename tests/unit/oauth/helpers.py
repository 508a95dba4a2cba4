"""Test helpers: create clients (record + verifier) and routes directly in the stores, as the admin API will."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta
from urllib.parse import quote_plus, urlencode

from gateway.credentials import hint_of, make_verifier, new_secret, verifier_secret_name
from gateway.http import Headers, Request
from gateway.services import Services
from gateway.stores.models import Client, Route, SecretMetadata

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "0d6a5a4e-1f2b-4c3d-8e9f-0a1b2c3d4e5f"
CLIENT_ID = "teams-patients"


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


def basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: form-urlencode id and secret, then HTTP Basic."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def token_request(form: dict[str, str] | list[tuple[str, str]] | None = None, *, body: bytes | None = None,
                  method: str = "POST", headers: dict[str, str] | None = None, address: str = "203.0.113.7",
                  query: str = "", endpoint: str = "token") -> Request:
    hdrs = Headers({"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": f"{address}:50000"})
    for name, value in (headers or {}).items():
        hdrs.set(name, value)
    if body is None:
        body = urlencode(form or {}).encode()
    url = f"http://localhost:7071/oauth2/{endpoint}" + (f"?{query}" if query else "")
    return Request(method=method, url=url, headers=hdrs, route_params={"endpoint": endpoint}, body=body)


def post_form(client_id: str, secret: str, scope: str = TENANT, **extra: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope,
            **extra}


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


def assertion_form(assertion: str, scope: str = TENANT, **extra: str) -> dict[str, str]:
    """A Backend Services token request (SMART App Launch 2.x: grant, assertion type, assertion, scope)."""
    return {"grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion, "scope": scope, **extra}
