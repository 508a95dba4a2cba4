"""JSON views (camelCase) of the stored models. No view ever carries a secret value."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.oauth.jwks import PRIVATE_MEMBERS
from gateway.stores.models import AuditRecord, Client, ClientAuthentication, Route, SecretMetadata, UpstreamAuth
from gateway.upstream.registry import KINDS

if TYPE_CHECKING:  # imports cryptography: the admin function loads it only to rotate or list keys
    from gateway.tokens.keys import SigningKeyInfo


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 (RFC 3339) in UTC with a ``Z``."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def route_json(route: Route) -> dict[str, Any]:
    return {
        "tenantId": route.tenant_id,
        "fhirBaseUrl": route.fhir_base_url,
        "fhirVersion": route.fhir_version,
        "displayName": route.display_name,
        "enabled": route.enabled,
        "allowWrites": route.allow_writes,
        "batchMode": route.batch_mode,
        "privateNetwork": route.private_network,
        "timeouts": {"connectSeconds": route.connect_timeout_seconds, "readSeconds": route.read_timeout_seconds},
        "upstreamAuth": upstream_auth_json(route.upstream_auth),
        "createdOn": timestamp(route.created_on),
        "updatedOn": timestamp(route.updated_on),
        "etag": route.etag,
    }


def upstream_auth_json(auth: UpstreamAuth) -> dict[str, Any]:
    """How the gateway authenticates to the provider: the common fields, then what the kind adds
    (``gateway.upstream``); whether a secret is set, never the secret or its Key Vault name."""
    kind = KINDS.get(auth.type)
    return {
        "type": auth.type,
        "tokenUrl": auth.token_url,
        "clientId": auth.client_id,
        "scope": auth.scope,
        "clientSecretSet": auth.secret_name is not None,
        **(kind.view(auth) if kind is not None else {}),
    }


def secret_json(meta: SecretMetadata, now: datetime) -> dict[str, Any]:
    return {
        "secretId": meta.secret_id,
        "hint": meta.hint,
        "createdOn": timestamp(meta.created_on),
        "expiresOn": timestamp(meta.expires_on),
        "expired": meta.expires_on <= now,
    }


def client_authentication_json(auth: ClientAuthentication) -> dict[str, Any]:
    """How the client authenticates; its inline JWKS holds public keys only (refused otherwise when saved)."""
    if not auth.uses_assertions:
        return {"method": auth.method}
    return {"method": auth.method, "jwksUrl": auth.jwks_url,
            "jwks": _public_only(json.loads(auth.jwks)) if auth.jwks else None}


def _public_only(jwks: dict[str, Any]) -> dict[str, Any]:
    """The set without any private member (a second guard: none is ever stored)."""
    return {**jwks, "keys": [{k: v for k, v in key.items() if k not in PRIVATE_MEMBERS}
                             for key in jwks.get("keys", []) if isinstance(key, dict)]}


def client_json(client: Client, now: datetime) -> dict[str, Any]:
    return {
        "clientId": client.client_id,
        "displayName": client.display_name,
        "allowedTenants": list(client.allowed_tenants),
        "enabled": client.enabled,
        "authentication": client_authentication_json(client.authentication),
        "allowedScopes": client.allowed_scopes,
        "secrets": [secret_json(s, now) for s in client.secrets],
        "createdOn": timestamp(client.created_on),
        "updatedOn": timestamp(client.updated_on),
        "etag": client.etag,
    }


def audit_json(record: AuditRecord) -> dict[str, Any]:
    return {
        "recordId": record.record_id,
        "timestamp": timestamp(record.timestamp),
        "actor": record.actor,
        "action": record.action,
        "targetType": record.target_type,
        "targetId": record.target_id,
        "requestId": record.request_id,
        "sourceAddress": record.source_address,
        "outcome": record.outcome,
        "details": dict(record.details),
    }


def signing_key_json(info: SigningKeyInfo) -> dict[str, Any]:
    return {
        "kid": info.kid,
        "alg": info.alg,
        "createdOn": timestamp(info.created_on),
        "status": info.status,
        "retireAfter": timestamp(info.retire_after),
    }
