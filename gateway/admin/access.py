"""Who is calling the admin API: the App Service authentication principal and the function key.

The Functions host has already checked the function key (``authLevel:
function``) before this code runs. When ``ADMIN_REQUIRED_ROLE`` is set, the
caller must also carry that Entra ID app role in the ``X-MS-CLIENT-PRINCIPAL``
header that App Service authentication injects (base64 JSON: ``auth_typ``,
``claims`` [{``typ``, ``val``}], ``name_typ``, ``role_typ``; see "Work with
user identities in Azure App Service authentication"). App Service strips
client-supplied ``X-MS-*`` headers when authentication is on, which is why the
role check is only meaningful with it switched on (docs/admin.md). Without
``ADMIN_REQUIRED_ROLE`` the header is not read at all, not even to name the
audit actor: it could be anything the function-key holder sent.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from gateway.admin.operations import Actor
from gateway.admin.problems import Problem
from gateway.config import Settings
from gateway.http import Request

PRINCIPAL_HEADER = "x-ms-client-principal"
ROLE_CLAIM_TYPES = ("roles", "role", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
NAME_CLAIM_TYPES = ("name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")
OID_CLAIM_TYPES = ("oid", "http://schemas.microsoft.com/identity/claims/objectidentifier")
MAX_PRINCIPAL_HEADER = 16384


@dataclass(frozen=True)
class Principal:
    """The parts of an App Service client principal the admin API uses."""

    name: str | None
    object_id: str | None
    roles: frozenset[str]


def parse_principal(header: str | None) -> Principal | None:
    """Decode ``X-MS-CLIENT-PRINCIPAL``; None when absent or malformed."""
    if not header or len(header) > MAX_PRINCIPAL_HEADER:
        return None
    try:
        payload = json.loads(base64.b64decode(header + "=" * (-len(header) % 4), validate=False))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("claims"), list):
        return None
    role_types = {t for t in (payload.get("role_typ"), *ROLE_CLAIM_TYPES) if isinstance(t, str)}
    name_types = {t for t in (payload.get("name_typ"), *NAME_CLAIM_TYPES) if isinstance(t, str)}
    roles: set[str] = set()
    name = oid = None
    for claim in payload["claims"]:
        if not isinstance(claim, dict) or not isinstance(claim.get("typ"), str) or \
                not isinstance(claim.get("val"), str):
            continue
        typ, val = claim["typ"], claim["val"]
        if typ in role_types:
            roles.add(val)
        elif typ in name_types and name is None:
            name = val
        elif typ in OID_CLAIM_TYPES and oid is None:
            oid = val
    return Principal(name=name, object_id=oid, roles=frozenset(roles))


def function_key_of(request: Request) -> str | None:
    """The function key the caller presented (header or ``code`` query parameter)."""
    return request.headers.get("x-functions-key") or request.query_value("code")


def authorize(request: Request, settings: Settings) -> Actor:
    """The audit actor of this request; 403 problem when the required app role is missing."""
    required = settings.admin_required_role
    principal = parse_principal(request.headers.get(PRINCIPAL_HEADER)) if required else None
    if required:
        if principal is None:
            raise Problem(403, "forbidden", "An Entra ID sign-in with the admin app role is required "
                                            "(App Service authentication).")
        if required not in principal.roles:
            raise Problem(403, "forbidden", "The signed-in principal lacks the admin app role.")
    return identify(request, settings, principal)


def identify(request: Request, settings: Settings, principal: Principal | None = None) -> Actor:
    """Who sent the request (for audit records), without checking any role.

    The Entra principal only when ``ADMIN_REQUIRED_ROLE`` is set (App Service authentication on, so the
    header is the platform's); otherwise the function key's fingerprint.
    """
    if principal is None and settings.admin_required_role:
        principal = parse_principal(request.headers.get(PRINCIPAL_HEADER))
    if principal is not None and (principal.name or principal.object_id):
        label = principal.name or ""
        if principal.object_id:
            label = f"{label} (oid {principal.object_id})" if label else f"oid {principal.object_id}"
        return Actor(f"entra:{label}"[:256], request.request_id, request.client_address)
    return Actor.from_function_key(function_key_of(request), request.request_id, request.client_address)
