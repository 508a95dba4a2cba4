"""``clientCredentials``: the OAuth 2.0 client credentials grant at the provider's token endpoint (RFC 6749
§4.4), the client authenticated with HTTP Basic (§2.3.1: id and secret each form-urlencoded first).

The client secret is written to Key Vault when the route is saved (its name on the route, never the value)
and read from there for each token request; it is never logged. It is bound to the token URL, the client id
and the provider's origin (``gateway.upstream.bindings``): a change of any of them must send the secret again.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from gateway.config import Settings
from gateway.stores.models import Route, UpstreamAuth
from gateway.upstream.bindings import CLIENT_ID, PROVIDER_ORIGIN, TOKEN_URL, Binding
from gateway.upstream.kind import (
    FetchContext,
    FieldProblem,
    Misconfigured,
    ProviderToken,
    UpstreamAuthError,
    UpstreamAuthKind,
    stored_record,
)
from gateway.upstream.token_request import check_token_url, request_token, token_url_problems

logger = logging.getLogger("gateway.upstream")


@dataclass(frozen=True)
class ClientCredentialsAuth:
    """Where to ask (``token_url``), as whom (``client_id``), for what (``scope``); the secret's Key Vault name."""

    token_url: str
    client_id: str
    scope: str | None = None
    secret_name: str | None = None


class ClientCredentialsKind(UpstreamAuthKind[ClientCredentialsAuth]):
    name: ClassVar[str] = "clientCredentials"
    value_type: ClassVar[type] = ClientCredentialsAuth
    schema_name: ClassVar[str] = "UpstreamAuthClientCredentials"
    secret_field: ClassVar[str | None] = "upstreamAuth/clientSecret"
    bound_to: ClassVar[tuple[Binding, ...]] = (TOKEN_URL, CLIENT_ID, PROVIDER_ORIGIN)

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "tokenUrl", "clientId"],
            "description": "OAuth client credentials at the provider. `clientSecret` goes to Key Vault and is never "
                           "returned; it is required on a new route and kept from the current route when omitted, "
                           "unless the change moves what the stored secret is bound to: `tokenUrl`, `clientId` or "
                           "the provider's origin (`fhirBaseUrl`). Then it must be sent again (422 naming "
                           "`upstreamAuth/clientSecret`).",
            "properties": {
                "type": {"type": "string", "const": self.name},
                "tokenUrl": {"type": "string", "format": "uri", "maxLength": 2048},
                "clientId": {"type": "string", "minLength": 1, "maxLength": 256},
                "clientSecret": {"type": "string", "minLength": 1, "maxLength": 1024, "writeOnly": True},
                "scope": {"type": "string", "maxLength": 1024},
            },
        }

    def from_input(self, body: Mapping[str, Any]) -> ClientCredentialsAuth:
        return ClientCredentialsAuth(token_url=body["tokenUrl"], client_id=body["clientId"], scope=body.get("scope"))

    def problems(self, value: ClientCredentialsAuth, *, private_network: bool,
                 settings: Settings) -> list[FieldProblem]:
        return token_url_problems(value.token_url, private_network=private_network, settings=settings)

    def from_record(self, record: UpstreamAuth) -> ClientCredentialsAuth:
        if not (record.token_url and record.client_id and record.secret_name):
            raise Misconfigured()
        return ClientCredentialsAuth(token_url=record.token_url, client_id=record.client_id, scope=record.scope,
                                     secret_name=record.secret_name)

    def to_record(self, value: ClientCredentialsAuth, secret_name: str | None) -> UpstreamAuth:
        return stored_record(self.name, token_url=value.token_url, client_id=value.client_id, scope=value.scope,
                             secret_name=secret_name)

    async def fetch(self, value: ClientCredentialsAuth, route: Route, context: FetchContext) -> ProviderToken:
        if value.secret_name is None:  # a value from the admin's input, never stored: nothing to read
            raise Misconfigured()
        check_token_url(value.token_url, route, context)
        try:
            stored = await context.secrets.get(value.secret_name)
        except Exception:  # noqa: BLE001 - any Key Vault failure is the same answer to the client
            logger.warning("provider secret unavailable tenant=%s", route.tenant_id)
            raise UpstreamAuthError("The provider's credentials are unavailable.") from None
        if stored is None or not stored.value or not stored.enabled:
            raise UpstreamAuthError("The provider's credentials are unavailable.")
        basic = base64.b64encode(f"{quote(value.client_id, safe='')}:{quote(stored.value, safe='')}"
                                 .encode()).decode("ascii")
        return await request_token(value.token_url, route, context, scope=value.scope,
                                   headers=[("Authorization", f"Basic {basic}")])


KIND = ClientCredentialsKind()
