"""Seeds the demo tenant route and demo client for `make run`, through the admin operations.

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

from gateway.admin.operations import Actor, RouteSpec, create_client, get_route, put_route
from gateway.admin.problems import Problem
from gateway.config import Settings
from gateway.services import Services, build_services

SEED_ACTOR = Actor("make-run-seed")


async def _ensure_route(services: Services, tenant: str, base_url: str) -> None:
    version = services.settings.fhir_version
    try:
        route = await get_route(services, tenant)
        if route.fhir_base_url == base_url and route.fhir_version == version and route.enabled:
            return
    except Problem as problem:
        if problem.status != 404:
            raise
    await put_route(services, SEED_ACTOR, tenant,
                    RouteSpec(fhir_base_url=base_url, fhir_version=version,
                              display_name=f"Demo hospital ({version}, synthetic data)"))


async def _ensure_client(services: Services, tenant: str, demo_file: Path) -> dict[str, str]:
    if demo_file.exists():
        demo = json.loads(demo_file.read_text())
        client = await services.clients.get(demo.get("client_id", ""))
        if client is not None and client.enabled and any(s.secret_id == demo.get("secret_id")
                                                         for s in client.active_secrets(services.clock.now())):
            return demo
    issued = await create_client(services, SEED_ACTOR, "Demo client (make run)", [tenant])
    demo = {"tenant": tenant, "client_id": issued.client.client_id, "secret_id": issued.secret_id,
            "client_secret": issued.secret}
    demo_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(demo_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(demo, handle)
    return demo


async def seed_demo(tenant: str, provider_root: str, demo_file: Path) -> dict[str, str]:
    """Ensure the demo route (to the demo provider's base for FHIR_VERSION) and client; return the credentials."""
    services = await build_services(Settings.from_environ())
    try:
        base_url = f"{provider_root.rstrip('/')}/{services.settings.fhir_version.lower()}"
        await _ensure_route(services, tenant, base_url)
        demo = await _ensure_client(services, tenant, demo_file)
        return {**demo, "tenant": tenant}
    finally:
        await services.aclose()
