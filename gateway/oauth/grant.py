"""The client credentials grant, RFC 6749 §4.4 (https://www.rfc-editor.org/rfc/rfc6749#section-4.4).

The requested ``scope`` (§3.3: space-delimited, case-sensitive tokens) names exactly one Azure AD
tenant GUID, compared case-insensitively, and optionally SMART system scopes
(``gateway.scopes.parse_scope_parameter``; anything else is ``invalid_scope``: each
``gateway.scopes.ScopeRequestError`` becomes ``InvalidScope`` here, its message the description). The
tenant must be allowed for the client and have an enabled route; otherwise ``invalid_scope`` (§5.2). A client
allowed no tenant at all is ``unauthorized_client``.

Scopes (``gateway.scopes.grant_scopes``): the token gets what was asked intersected with the
client's ``allowedScopes``; a scope sharing nothing with them is ``invalid_scope``. The response's
``scope`` (§5.1) and the token's ``scope`` claim are the canonical tenant GUID followed by the
granted v2 scopes. A request naming the tenant alone (the Teams Patients app's) gets the client's
allowed scopes, and its token and response carry the tenant alone, exactly as before scopes
existed (§5.1: ``scope`` may be omitted or echoed when the grant is what was requested): the proxy
reads a tenant-only token as the client's allowed scopes at the time of each request.
"""

from __future__ import annotations

import functools
from typing import Protocol

from gateway.oauth.errors import InvalidScope, UnauthorizedClient
from gateway.scopes import MAX_SCOPE_TOKENS as SCOPE_TOKEN_LIMIT
from gateway.scopes import (
    ScopeGrant,
    ScopeRequestError,
    ScopeSyntaxError,
    SmartScopes,
    grant_scopes,
    parse_allowed_scopes,
    parse_scope_parameter,
)
from gateway.stores.models import Client, Route
from gateway.tokens.access_tokens import IssuedToken, TokenIssuer

GRANT_TYPE = "client_credentials"
MAX_SCOPE_TOKENS = SCOPE_TOKEN_LIMIT


def requested_tenant(scope: str | None) -> str:
    """The one tenant GUID named in ``scope``, canonical; InvalidScope otherwise (see parse_scope_parameter)."""
    try:
        return parse_scope_parameter(scope).tenant
    except ScopeRequestError as refused:
        raise InvalidScope(refused.description) from None


@functools.lru_cache(maxsize=1024)
def _parsed_allowed_scopes(text: str) -> SmartScopes:
    return parse_allowed_scopes(text)  # a failure raises, and is not memoized


def client_scopes(client: Client) -> SmartScopes:
    """The client's allowed SMART scopes (parsed once per text); InvalidScope when its stored value is unusable."""
    text = client.allowed_scopes
    try:
        return _parsed_allowed_scopes(text) if isinstance(text, str) else parse_allowed_scopes(text)
    except ScopeSyntaxError:
        raise InvalidScope("this client is allowed no SMART scopes") from None


class EnabledRoutes(Protocol):
    """The tenants' routes (``gateway.directory.RouteDirectory``)."""

    async def enabled_route(self, tenant_id: str) -> Route | None: ...


class ClientCredentialsGrant:
    """§4.4: a token for an authenticated client, its tenant (one with an enabled route in ``routes``) and its
    scopes, signed by ``issuer``."""

    def __init__(self, routes: EnabledRoutes, issuer: TokenIssuer) -> None:
        self._routes = routes
        self._issuer = issuer

    async def issue(self, client: Client, scope: str | None) -> IssuedToken:
        """Issue a token for an authenticated ``client``, its requested tenant and scopes (§4.4.2, §4.4.3)."""
        if not client.allowed_tenants:
            raise UnauthorizedClient("this client is not authorized for any tenant")
        try:
            request = parse_scope_parameter(scope)
            if not client.allows_tenant(request.tenant):
                raise InvalidScope("the requested tenant is not allowed for this client")
            grant: ScopeGrant = grant_scopes(request, client_scopes(client))
        except ScopeRequestError as refused:
            raise InvalidScope(refused.description) from None
        if await self._routes.enabled_route(request.tenant) is None:
            raise InvalidScope("the requested tenant has no enabled route")
        scope_claim = request.tenant if request.tenant_only else grant.scope
        return await self._issuer.issue(client_id=client.client_id, tenant_id=request.tenant, scope=scope_claim)
