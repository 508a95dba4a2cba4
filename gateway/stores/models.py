"""The data model (design: "Data and secrets"): routes, clients, secret metadata, audit records.

Plain frozen dataclasses; the stores persist them and the admin API maps them
to its camelCase JSON. No secret value ever appears in any of them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")

UpstreamAuthType = Literal["none", "clientCredentials", "managedIdentity", "privateKeyJwt"]
BatchMode = Literal["passthrough", "fanout"]
ClientAuthMethod = Literal["client_secret", "private_key_jwt"]
ALL_TENANTS = "*"
DEFAULT_ALLOWED_SCOPES = "system/*.rs"
"""``allowedScopes`` of a client that was given none: read and search every type (gateway.scopes)."""

GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""A GUID in its hyphenated form, either case: an Azure AD tenant id (``re`` and JSON Schema ``pattern``)."""
TENANT_OR_ALL_PATTERN = f"^({re.escape(ALL_TENANTS)}|{GUID_PATTERN[1:-1]})$"
"""A tenant GUID or ``*`` (every tenant), as in a client's ``allowedTenants``."""
GUID = re.compile(GUID_PATTERN)


def canonical_tenant_id(value: str) -> str | None:
    """The canonical (lowercase, hyphenated) form of an Azure AD tenant GUID, or None if it is not one."""
    if not isinstance(value, str) or not GUID.fullmatch(value):
        return None
    return str(uuid.UUID(value))


@dataclass(frozen=True)
class UpstreamAuth:
    """How the gateway authenticates to a provider.

    ``secret_name`` names the Key Vault secret holding the client secret of a
    ``clientCredentials`` provider registration; the value never leaves Key Vault
    except to call the provider's token endpoint. A ``privateKeyJwt`` route has no secret: the gateway signs
    an assertion with its Key Vault key ``key_name`` (None: the gateway's key) using ``algorithm``.
    """

    type: UpstreamAuthType = "none"
    token_url: str | None = None
    client_id: str | None = None
    scope: str | None = None
    secret_name: str | None = None
    algorithm: str | None = None
    key_name: str | None = None


@dataclass(frozen=True)
class Route:
    """Tenant-to-provider route, keyed by the customer's Azure AD tenant GUID (lowercase)."""

    tenant_id: str
    fhir_base_url: str
    fhir_version: str
    display_name: str = ""
    enabled: bool = True
    allow_writes: bool = False
    batch_mode: BatchMode = "passthrough"
    connect_timeout_seconds: float | None = None
    read_timeout_seconds: float | None = None
    private_network: bool = False
    upstream_auth: UpstreamAuth = field(default_factory=UpstreamAuth)
    created_on: datetime | None = None
    updated_on: datetime | None = None
    etag: str | None = None


@dataclass(frozen=True)
class SecretMetadata:
    """What the Table keeps of a client secret: never its value, only how to find its verifier."""

    secret_id: str
    hint: str
    created_on: datetime
    expires_on: datetime


@dataclass(frozen=True)
class ClientAuthentication:
    """How a client authenticates at the token endpoint (RFC 6749 §2.3).

    ``client_secret`` (the default): gateway-issued secrets. ``private_key_jwt`` (RFC 7523 §2.2,
    SMART Backend Services): signed assertions verified with the client's public keys, given
    either inline as ``jwks`` (a public-keys-only JWKS as canonical JSON text) or at ``jwks_url``.
    """

    method: ClientAuthMethod = "client_secret"
    jwks_url: str | None = None
    jwks: str | None = None

    @property
    def uses_assertions(self) -> bool:
        return self.method == "private_key_jwt"


@dataclass(frozen=True)
class Client:
    """An OAuth client (the SaaS client's registration) and its secrets' metadata."""

    client_id: str
    display_name: str
    allowed_tenants: tuple[str, ...] = ()
    enabled: bool = True
    secrets: tuple[SecretMetadata, ...] = ()
    authentication: ClientAuthentication = field(default_factory=ClientAuthentication)
    allowed_scopes: str = DEFAULT_ALLOWED_SCOPES
    created_on: datetime | None = None
    updated_on: datetime | None = None
    etag: str | None = None

    def allows_tenant(self, tenant_id: str) -> bool:
        return ALL_TENANTS in self.allowed_tenants or tenant_id in self.allowed_tenants

    def active_secrets(self, now: datetime) -> tuple[SecretMetadata, ...]:
        return tuple(s for s in self.secrets if s.expires_on > now)


@dataclass(frozen=True)
class AuditRecord:
    """Who did what to which client, route or key, when and from where. Never a secret value."""

    action: str
    target_type: str
    target_id: str
    actor: str
    timestamp: datetime
    request_id: str = ""
    source_address: str = ""
    outcome: str = "success"
    details: dict[str, Any] = field(default_factory=dict)
    record_id: str = ""


@dataclass(frozen=True)
class StoredSecret:
    """One version of a Key Vault secret. ``value`` is None in listings."""

    name: str
    value: str | None
    version: str
    enabled: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    created_on: datetime | None = None
    updated_on: datetime | None = None
    expires_on: datetime | None = None
    not_before: datetime | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``continuation`` is an opaque token for the next page, or None."""

    items: list[T]
    continuation: str | None = None
