"""``managedIdentity``: a token of the gateway's own managed identity (``azure.identity.aio``, ``AZURE_CLIENT_ID``
picking a user-assigned one), only ever for the provider's own origin, ``<scheme>://<host>[:port]/.default``
(Azure Health Data Services form; ``gateway.outbound.identity_scopes``).

A stored scope naming anything else is refused when the route is saved (an audited 422) and again before
every token request (a route stored before the rule, or written to the table directly, never obtains a token
for Key Vault, Storage or another resource the identity holds roles on).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from gateway.outbound.identity_scopes import scope_problem, token_scope
from gateway.stores.models import Route, UpstreamAuth
from gateway.upstream.kind import (
    NOT_CONFIGURED,
    FetchContext,
    FieldProblem,
    ProviderToken,
    UpstreamAuthError,
    UpstreamAuthKind,
    stored_record,
    token_lifetime,
)

logger = logging.getLogger("gateway.upstream")


@dataclass(frozen=True)
class ManagedIdentityAuth:
    """The scope to ask for (None: derived from the provider's origin, the only one allowed anyway)."""

    scope: str | None = None


class ManagedIdentityKind(UpstreamAuthKind[ManagedIdentityAuth]):
    name: ClassVar[str] = "managedIdentity"
    value_type: ClassVar[type] = ManagedIdentityAuth
    schema_name: ClassVar[str] = "UpstreamAuthManagedIdentity"

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "description": "The gateway's managed identity, only ever for the provider itself: the scope is "
                           "`<scheme>://<host>[:port]/.default` of `fhirBaseUrl` (Azure Health Data Services "
                           "form). A scope naming anything else, or a provider on an Azure Key Vault, Storage, "
                           "Resource Manager or Graph host, is a 422.",
            "properties": {
                "type": {"type": "string", "const": self.name},
                "scope": {"type": "string", "minLength": 1, "maxLength": 1024,
                          "description": "Optional: derived from fhirBaseUrl when absent; when given it must name "
                                         "that same origin (scheme and host case and a default port do not "
                                         "matter)."},
            },
        }

    def from_input(self, body: Mapping[str, Any]) -> ManagedIdentityAuth:
        return ManagedIdentityAuth(scope=body.get("scope"))

    def refusal(self, value: ManagedIdentityAuth, *, fhir_base_url: str) -> tuple[str, list[FieldProblem]] | None:
        problem = scope_problem(fhir_base_url, value.scope)
        return ("managed-identity-scope", [problem]) if problem is not None else None

    def from_record(self, record: UpstreamAuth) -> ManagedIdentityAuth:
        return ManagedIdentityAuth(scope=record.scope)

    def to_record(self, value: ManagedIdentityAuth, secret_name: str | None) -> UpstreamAuth:
        return stored_record(self.name, scope=value.scope)

    async def fetch(self, value: ManagedIdentityAuth, route: Route, context: FetchContext) -> ProviderToken:
        refused = scope_problem(route.fhir_base_url, value.scope)
        if refused is not None:
            logger.warning("managed identity scope refused tenant=%s field=%s", route.tenant_id, refused[0])
            raise UpstreamAuthError(NOT_CONFIGURED)
        scope = token_scope(route.fhir_base_url)
        credential = context.identity()
        try:
            token = await credential.get_token(scope)
        except Exception as exc:  # noqa: BLE001 - azure-identity raises several types
            logger.warning("managed identity token failed tenant=%s type=%s", route.tenant_id, type(exc).__name__)
            raise UpstreamAuthError("The gateway could not obtain a token for the provider.") from None
        return ProviderToken(token.token, time.monotonic() + token_lifetime(token.expires_on - time.time()))


KIND = ManagedIdentityKind()
