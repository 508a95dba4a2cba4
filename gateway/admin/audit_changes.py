"""What an admin change changed, field by field, for the audit trail: ``{field: {"old": …, "new": …}}``.

Every changed field of a route, client, client secret or signing key is recorded with its old and new
value, so the trail alone tells what a tenant's route pointed at before a change. Secrets are never
recorded: a stored secret appears as ``"(set)"``, a newly given one as ``"(replaced)"`` (or ``"(set)"``
when there was none), a removed one as ``null``. Field names are the admin API's (``timeouts/readSeconds``,
``upstreamAuth/tokenUrl``); a client's inline JWKS is recorded as ``kid#thumbprint`` (RFC 7638)
per key. Long lists (allowed tenants) are recorded as what was added and removed when
both full lists would not fit an audit record comfortably.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from gateway.admin.client_specs import key_names
from gateway.admin.views import route_json
from gateway.stores.models import Client, Route

SET = "(set)"
REPLACED = "(replaced)"
LIST_BUDGET_CHARS = 8000
"""Above this (old and new list serialised together), a list change is recorded as added/removed items."""
MAX_LISTED_ITEMS = 150

Change = dict[str, Any]


def route_fields(route: Route | None) -> dict[str, Any]:
    """The auditable fields of a route (none for an absent route): its admin API view (``route_json``) by
    field path, without the record's own key and metadata; the secret appears as ``(set)`` or null."""
    if route is None:
        return {}
    fields: dict[str, Any] = {}
    for name, value in _paths(route_json(route)):
        if name == "upstreamAuth/clientSecretSet":
            fields["upstreamAuth/clientSecret"] = SET if value else None
        elif name not in _ROUTE_METADATA:
            fields[name] = value
    return fields


_ROUTE_METADATA = frozenset({"tenantId", "createdOn", "updatedOn", "etag"})
"""Fields of a route's view that no change sets: its key (the audit record's target) and bookkeeping."""


def _paths(view: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Each leaf of a JSON view as ``(field path, value)``: ``timeouts/readSeconds``."""
    for name, value in view.items():
        if isinstance(value, Mapping):
            yield from _paths(value, f"{prefix}{name}/")
        else:
            yield f"{prefix}{name}", value


def client_fields(client: Client | None) -> dict[str, Any]:
    """The auditable fields of a client: secrets by id only (never a value or a verifier)."""
    if client is None:
        return {}
    auth = client.authentication
    return {
        "displayName": client.display_name,
        "allowedTenants": list(client.allowed_tenants),
        "enabled": client.enabled,
        "secrets": [s.secret_id for s in client.secrets],
        "allowedScopes": client.allowed_scopes,
        "authentication/method": auth.method,
        "authentication/jwksUrl": auth.jwks_url,
        "authentication/jwks": key_names(auth),
    }


def changes(old: Mapping[str, Any], new: Mapping[str, Any], *,
            replaced_secrets: tuple[str, ...] = ()) -> dict[str, Change]:
    """Each field whose value differs, as ``{"old": …, "new": …}``; a field in ``replaced_secrets`` was given
    a new secret value: recorded as replaced even though both sides read ``(set)``."""
    out: dict[str, Change] = {}
    for name in [*old, *(k for k in new if k not in old)]:
        before, after = old.get(name), new.get(name)
        if name in replaced_secrets and after is not None:
            out[name] = {"old": before, "new": REPLACED if before is not None else SET}
        elif before != after:
            out[name] = _list_change(before, after) if isinstance(before, list) and isinstance(after, list) \
                else {"old": before, "new": after}
    return out


def _list_change(before: list[Any], after: list[Any]) -> Change:
    if len(json.dumps(before)) + len(json.dumps(after)) <= LIST_BUDGET_CHARS:
        return {"old": before, "new": after}
    added = [v for v in after if v not in before]
    removed = [v for v in before if v not in after]
    change: Change = {"added": added[:MAX_LISTED_ITEMS], "removed": removed[:MAX_LISTED_ITEMS],
                      "oldCount": len(before), "newCount": len(after)}
    if len(added) > MAX_LISTED_ITEMS or len(removed) > MAX_LISTED_ITEMS:
        change["truncated"] = True
    return change
