"""Seeds the demo tenant routes and demo client for `make run`, through the admin operations.

Three demo tenants: the first reaches the demo provider without provider authentication (the reference
client's setup), in the gateway's default version; the second reaches a demo provider in SMART Backend
Services mode with a ``privateKeyJwt`` route, so the gateway signs assertions with its Key Vault key (created
on that first save) and the provider verifies them against ``<gateway>/oauth2/provider-jwks``; the third is
an R4 route to the demo provider's US Core-shaped R4 base, which DSTU2 and STU3 clients read through the
version bridge (``/fhir/STU3``, ``/fhir/DSTU2``) and R4 clients unconverted (``/fhir/R4``). Every save reads the
provider's metadata, so a route's version is verified against the demo provider's.

Idempotent: the route is written only when missing or different (e.g. after
``FHIR_VERSION`` changed), and the demo client is reused while it and its
secret still exist. The demo secret is kept in the git-ignored state folder so
that a second run can print it again: a convenience of the local demo only; a
real client's secret is shown once and never stored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gateway.admin.actor import Actor
from gateway.admin.problems import Problem
from gateway.admin.tenant_routes import RouteSpec
from gateway.config import Settings
from gateway.services import Services, build_services
from gateway.tokens.provider_keys import DEFAULT_KEY_NAME
from gateway.upstream.private_key_jwt import PrivateKeyJwtAuth

SEED_ACTOR = Actor("make-run-seed")
BACKEND_CLIENT_ID = "interop-gateway-demo"  # the client id the demo provider registered for the gateway
BACKEND_SCOPE = "system/*.rs"


async def _ensure_route(services: Services, tenant: str, base_url: str, version: str, display_name: str) -> None:
    try:
        route = await services.admin_api.routes.get(tenant)
        if route.fhir_base_url == base_url and route.fhir_version == version and route.enabled:
            return
    except Problem as problem:
        if problem.status != 404:
            raise
    spec = RouteSpec(fhir_base_url=base_url, fhir_version=version, display_name=display_name)
    await services.admin_api.routes.put(SEED_ACTOR, tenant, spec)


async def _allow_tenant(services: Services, client_id: str, tenant: str) -> None:
    client = await services.clients.get(client_id)
    if client is not None and not client.allows_tenant(tenant):
        await services.admin_api.clients.update(SEED_ACTOR, client.client_id,
                                                allowed_tenants=[*client.allowed_tenants, tenant])


async def _ensure_backend_route(services: Services, tenant: str, provider_root: str) -> None:
    """The second demo tenant: a privateKeyJwt route to the demo provider in Backend Services mode."""
    version = services.settings.fhir_version
    upstream = PrivateKeyJwtAuth(token_url=f"{provider_root}/auth/token", client_id=BACKEND_CLIENT_ID,
                                 scope=BACKEND_SCOPE, algorithm="RS384", key_name=DEFAULT_KEY_NAME)
    spec = RouteSpec(fhir_base_url=f"{provider_root}/{version.lower()}", fhir_version=version,
                     display_name=f"Demo hospital, SMART Backend Services ({version}, synthetic data)",
                     upstream=upstream)
    try:
        route = await services.admin_api.routes.get(tenant)
        auth = route.upstream_auth
        if (route.fhir_base_url, route.fhir_version, route.enabled, auth.type, auth.token_url, auth.client_id) == (
                spec.fhir_base_url, version, True, "privateKeyJwt", upstream.token_url, BACKEND_CLIENT_ID):
            return
    except Problem as problem:
        if problem.status != 404:
            raise
    await services.admin_api.routes.put(SEED_ACTOR, tenant, spec)


async def _ensure_client(services: Services, tenant: str, demo_file: Path) -> dict[str, str]:
    if demo_file.exists():
        demo = json.loads(demo_file.read_text())
        client = await services.clients.get(demo.get("client_id", ""))
        if client is not None and client.enabled and any(s.secret_id == demo.get("secret_id")
                                                         for s in client.active_secrets(services.clock.now())):
            return demo
    issued = await services.admin_api.clients.create(SEED_ACTOR, "Demo client (make run)", [tenant])
    demo = {"tenant": tenant, "client_id": issued.client.client_id, "secret_id": issued.secret_id,
            "client_secret": issued.secret}
    demo_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(demo_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(demo, handle)
    return demo


async def seed_demo(tenant: str, provider_root: str, demo_file: Path, *, backend_tenant: str | None = None,
                    backend_provider_root: str | None = None, bridged_tenant: str | None = None) -> dict[str, str]:
    """Ensure the demo routes (to the demo providers' bases for FHIR_VERSION; the bridged tenant's to the R4 base)
    and client; return the credentials."""
    services = await build_services(Settings.from_environ(), create_tables=True)
    try:
        for done in await services.admin_api.deployment.ensure():  # what a deployment creates before traffic
            print(f"  created {done}")
        version = services.settings.fhir_version
        root = provider_root.rstrip("/")
        await _ensure_route(services, tenant, f"{root}/{version.lower()}", version,
                            f"Demo hospital ({version}, synthetic data)")
        demo = await _ensure_client(services, tenant, demo_file)
        if backend_tenant is not None and backend_provider_root is not None:
            await _ensure_backend_route(services, backend_tenant, backend_provider_root.rstrip("/"))
            await _allow_tenant(services, demo["client_id"], backend_tenant)
            demo = {**demo, "backend_tenant": backend_tenant}
        if bridged_tenant is not None:
            await _ensure_route(services, bridged_tenant, f"{root}/r4", "R4",
                                "Demo hospital on R4, US Core data (DSTU2 and STU3 clients bridged)")
            await _allow_tenant(services, demo["client_id"], bridged_tenant)
            demo = {**demo, "bridged_tenant": bridged_tenant}
        return {**demo, "tenant": tenant}
    finally:
        await services.aclose()
