"""Admin operations: plain async functions over :class:`Services`, each writing an audit record.

Handlers (``gateway.admin.handlers``) call these with validated input and an
:class:`~gateway.admin.access.Actor`; ``make run`` seeds demo data through them too. Errors are
raised as :class:`~gateway.admin.problems.Problem` (status + problem details). One module per concern:
``tenant_routes``, ``clients``, ``client_secrets``, ``signing_keys``, ``audit_trail``; how they talk to the
stores is in ``writes``. This module gathers them under one name.

Integrity rules they share:

- A change touching Key Vault and Table Storage never leaves half of itself
  behind: Key Vault is written first and the Table second; when the Table
  write fails the Key Vault write is undone, and the caller gets 503 with
  ``Retry-After``. Deletions go the other way round (Table first, then Key
  Vault; if Key Vault fails the Table record is restored).
- Optimistic concurrency: client and route replacements pass the ETag they
  were read with (``if_match``); on a conflict the operation re-reads and
  re-checks its rules (``writes.retry_on_conflict``, so two simultaneous secret
  creations still end with at most two active secrets). A caller-supplied
  ``If-Match`` that is stale: 412.
- After every change this worker's caches forget the record
  (``Services.forget_client`` / ``Services.forget_route``); other workers see
  it within ``CLIENT_CACHE_SECONDS`` / ``ROUTE_CACHE_SECONDS``.
- A store that hangs: the endpoint answers 503 within ``STORE_TIMEOUT_SECONDS``
  and the operation is abandoned (``gateway.admin.attempts``): ``checkpoint()``
  before each write refuses to start it, ``commit()`` after the deciding write
  says whether it landed too late and must be undone.
- Credential rules: a managed identity only gets a token for the provider's
  origin (``gateway.proxy.identity_scopes``); a stored provider secret is bound
  to the fields its kind declares (``gateway.admin.credential_bindings``). Their
  refusals are audited ``refused`` with a reason.
- Every change records ``details.changes``: each changed field, old and new
  (``gateway.admin.audit_changes``; secrets only as markers).

No secret value is ever logged, audited or put in an error.
"""

from __future__ import annotations

from gateway.admin.access import SYSTEM_ACTOR, Actor
from gateway.admin.audit_trail import audit_refusal, list_audit
from gateway.admin.client_secrets import MAX_ACTIVE_SECRETS, add_secret, revoke_secret
from gateway.admin.clients import (
    canonical_tenants,
    create_client,
    delete_client,
    get_client,
    list_clients,
    update_client,
)
from gateway.admin.readiness import ensure
from gateway.admin.signing_keys import SigningKeyRing, list_signing_keys, rotate_signing_key
from gateway.admin.tenant_routes import RouteSpec, delete_route, get_route, list_routes, put_route
from gateway.admin.verifiers import NewSecret
from gateway.admin.writes import CONFLICT_RETRIES

__all__ = [
    "CONFLICT_RETRIES",
    "MAX_ACTIVE_SECRETS",
    "SYSTEM_ACTOR",
    "Actor",
    "NewSecret",
    "RouteSpec",
    "SigningKeyRing",
    "add_secret",
    "audit_refusal",
    "canonical_tenants",
    "create_client",
    "delete_client",
    "delete_route",
    "ensure",
    "get_client",
    "get_route",
    "list_audit",
    "list_clients",
    "list_routes",
    "list_signing_keys",
    "put_route",
    "revoke_secret",
    "rotate_signing_key",
    "update_client",
]
