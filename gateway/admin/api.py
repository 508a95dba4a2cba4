"""The admin API's resources over one worker's stores: what the admin operations work on, built by
``gateway.services``.

Each resource is built with exactly its collaborators (``TenantRoutes(routes, secrets=..., ...)``); none
holds per-worker state, so the services build them afresh for each admin request (cheap objects), over the
stores the worker holds at that moment. The endpoint hands each operation the resource its row names
(:meth:`AdminApi.resource`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TypeVar

from gateway.admin.audit_trail import AuditTrail
from gateway.admin.client_secrets import ClientSecrets
from gateway.admin.clients import ClientRecords
from gateway.admin.document import ApiDocument
from gateway.admin.provider_keys import ProviderKeys
from gateway.admin.readiness import Deployment
from gateway.admin.signing_keys import SigningKeys
from gateway.admin.tenant_routes import TenantRoutes
from gateway.clock import Clock
from gateway.config import Settings

R = TypeVar("R")


@dataclass(frozen=True)
class AdminApi:
    """The settings and clock the handlers share, and the resources."""

    settings: Settings
    clock: Clock
    routes: TenantRoutes
    clients: ClientRecords
    client_secrets: ClientSecrets
    signing_keys: SigningKeys
    provider_keys: ProviderKeys
    audit: AuditTrail
    deployment: Deployment
    document: ApiDocument

    def resource(self, kind: type[R]) -> R:
        """The resource of class ``kind`` (an operation's ``resource``)."""
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, kind):
                return value
        raise LookupError(f"no admin resource of type {kind.__name__}")
