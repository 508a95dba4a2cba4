"""The admin API's resources over one worker's stores: what the admin handlers use, built by ``gateway.services``.

Each resource is built with exactly its collaborators (``TenantRoutes(routes, secrets=..., ...)``); none
holds per-worker state, so the services build them afresh for each admin request (cheap objects), over the
stores the worker holds at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.admin.audit_trail import AuditTrail
from gateway.admin.client_secrets import ClientSecrets
from gateway.admin.clients import ClientRecords
from gateway.admin.provider_keys import ProviderKeys
from gateway.admin.signing_keys import SigningKeys
from gateway.admin.tenant_routes import TenantRoutes
from gateway.clock import Clock
from gateway.config import Settings


@dataclass(frozen=True)
class AdminApi:
    """The settings the handlers read (body limit, public base URL), the clock, and the resources."""

    settings: Settings
    clock: Clock
    routes: TenantRoutes
    clients: ClientRecords
    client_secrets: ClientSecrets
    signing_keys: SigningKeys
    provider_keys: ProviderKeys
    audit: AuditTrail
