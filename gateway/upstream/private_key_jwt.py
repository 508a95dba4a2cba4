"""``privateKeyJwt``: SMART Backend Services at the provider (SMART App Launch 2.x, "Backend Services",
"Authenticating to the token service"): the client credentials grant authenticated by an RFC 7523 client
assertion (``client_assertion_type`` ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``) that the
gateway signs with its Key Vault key (``gateway.tokens.provider_keys``).

The assertion's ``aud`` is the route's saved ``tokenUrl``, which passes the provider URL rules when the route is
saved and again before anything is signed. No secret is sent or stored: the credential is the gateway's key
``keyName`` (the gateway's own, ``gateway``, unless the route names its own), created when the first route that
needs it is saved. Its bindings (token URL, client id, provider origin, key name) have no secret to present
again; a change of them is audited (``boundFieldsMoved``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from gateway.config import Settings
from gateway.stores.models import Route, UpstreamAuth
from gateway.tokens.provider_keys import (
    CLIENT_ASSERTION_TYPE,
    DEFAULT_KEY_NAME,
    KEY_NAME_PATTERN,
    ProviderKeyUnavailable,
)
from gateway.upstream.bindings import CLIENT_ID, KEY_NAME, PROVIDER_ORIGIN, TOKEN_URL, Binding
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

DEFAULT_ALGORITHM = "RS384"


@dataclass(frozen=True)
class PrivateKeyJwtAuth:
    """Where to ask (``token_url``, the assertion's ``aud``), as whom (``client_id``: its ``iss`` and ``sub``), for
    what (``scope``), signed by which gateway key (``key_name``, ``algorithm``)."""

    token_url: str
    client_id: str
    scope: str | None = None
    algorithm: str = DEFAULT_ALGORITHM
    key_name: str = DEFAULT_KEY_NAME


class PrivateKeyJwtKind(UpstreamAuthKind[PrivateKeyJwtAuth]):
    name: ClassVar[str] = "privateKeyJwt"
    value_type: ClassVar[type] = PrivateKeyJwtAuth
    schema_name: ClassVar[str] = "UpstreamAuthPrivateKeyJwt"
    bound_to: ClassVar[tuple[Binding, ...]] = (TOKEN_URL, CLIENT_ID, PROVIDER_ORIGIN, KEY_NAME)

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "tokenUrl", "clientId"],
            "description": "SMART Backend Services at the provider: the client credentials grant with an RFC 7523 "
                           "client assertion (`iss` = `sub` = `clientId`, `aud` = `tokenUrl`, at most 5 minutes, "
                           "random `jti`) signed by a gateway key that never leaves Key Vault. The key is created "
                           "when the first route that needs it is saved; its public keys are at "
                           "`/oauth2/provider-jwks` (the gateway's key) or `/oauth2/provider-jwks?key=<keyName>` (a "
                           "route's own key): the JWKS URL to register at the provider. No secret is sent or "
                           "stored; a change of `tokenUrl`, `clientId`, `keyName` or the provider's origin is "
                           "audited (`boundFieldsMoved`).",
            "properties": {
                "type": {"type": "string", "const": self.name},
                "tokenUrl": {"type": "string", "format": "uri", "maxLength": 2048,
                             "description": "The provider's token endpoint: the assertion's exact `aud`. Same URL "
                                            "rules as `fhirBaseUrl`."},
                "clientId": {"type": "string", "minLength": 1, "maxLength": 256,
                             "description": "The client id the provider registered for the gateway."},
                "scope": {"type": "string", "maxLength": 1024, "description": "E.g. `system/*.rs`."},
                "algorithm": {"type": "string", "enum": ["RS384", "ES384"], "default": DEFAULT_ALGORITHM,
                              "description": "RS384 (RSA 3072 key) or ES384 (P-384 key)."},
                "keyName": {"type": "string", "pattern": KEY_NAME_PATTERN, "default": DEFAULT_KEY_NAME,
                            "description": "Sign with a key of this name instead of the gateway's (`gateway`): its "
                                           "own JWKS URL, so one hospital's registration trusts only its key."},
            },
        }

    def view_schema(self) -> dict[str, Any]:
        return {"algorithm": {"type": ["string", "null"], "description": "privateKeyJwt: RS384 or ES384."},
                "keyName": {"type": ["string", "null"], "description": "privateKeyJwt: the key it signs with."}}

    def view(self, record: UpstreamAuth) -> dict[str, Any]:
        return {"algorithm": record.algorithm, "keyName": record.key_name}

    def from_input(self, body: Mapping[str, Any]) -> PrivateKeyJwtAuth:
        return PrivateKeyJwtAuth(token_url=body["tokenUrl"], client_id=body["clientId"], scope=body.get("scope"),
                                 algorithm=body.get("algorithm") or DEFAULT_ALGORITHM,
                                 key_name=body.get("keyName") or DEFAULT_KEY_NAME)

    def problems(self, value: PrivateKeyJwtAuth, *, private_network: bool, settings: Settings) -> list[FieldProblem]:
        return token_url_problems(value.token_url, private_network=private_network, settings=settings)

    def provider_key(self, value: PrivateKeyJwtAuth) -> tuple[str, str] | None:
        return value.key_name, value.algorithm

    def from_record(self, record: UpstreamAuth) -> PrivateKeyJwtAuth:
        if not (record.token_url and record.client_id and record.algorithm):
            raise Misconfigured()
        return PrivateKeyJwtAuth(token_url=record.token_url, client_id=record.client_id, scope=record.scope,
                                 algorithm=record.algorithm, key_name=record.key_name or DEFAULT_KEY_NAME)

    def to_record(self, value: PrivateKeyJwtAuth, secret_name: str | None) -> UpstreamAuth:
        return stored_record(self.name, token_url=value.token_url, client_id=value.client_id, scope=value.scope,
                             algorithm=value.algorithm, key_name=value.key_name)

    async def fetch(self, value: PrivateKeyJwtAuth, route: Route, context: FetchContext) -> ProviderToken:
        # Checked before signing, not only when the route was saved: a route written to the table directly (or
        # saved under older rules) must never make the gateway sign an assertion for a forbidden address.
        check_token_url(value.token_url, route, context)
        try:
            assertion = await context.signer.assertion(value.key_name, value.algorithm, value.client_id,
                                                       value.token_url)
        except ProviderKeyUnavailable as exc:
            logger.warning("provider assertion key unavailable tenant=%s", route.tenant_id)
            raise UpstreamAuthError(str(exc)) from None
        return await request_token(value.token_url, route, context, scope=value.scope,
                                   form={"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion})


KIND = PrivateKeyJwtKind()
