"""The client credentials grant, RFC 6749 §4.4 (https://www.rfc-editor.org/rfc/rfc6749#section-4.4).

The requested ``scope`` (§3.3: space-delimited, case-sensitive tokens) must
contain exactly one Azure AD tenant GUID, compared case-insensitively; other
tokens are ignored and the granted scope, answered in the response (§5.1), is
the canonical lowercase tenant GUID alone. The tenant must be allowed for the
client and have an enabled route; otherwise ``invalid_scope`` (§5.2). A client
allowed no tenant at all is ``unauthorized_client``.
"""

from __future__ import annotations

from gateway.directory import route_directory
from gateway.oauth.errors import InvalidScope, UnauthorizedClient
from gateway.services import Services
from gateway.stores.models import Client, canonical_tenant_id
from gateway.tokens.access_tokens import IssuedToken, issue_access_token

GRANT_TYPE = "client_credentials"
MAX_SCOPE_TOKENS = 16


def requested_tenant(scope: str | None) -> str:
    """The one tenant GUID named in ``scope``, canonical; InvalidScope otherwise."""
    if not scope:
        raise InvalidScope("scope must name the tenant (an Azure AD tenant GUID)")
    tokens = [t for t in scope.split(" ") if t]
    if len(tokens) > MAX_SCOPE_TOKENS:
        raise InvalidScope("too many scope values")
    tenants = {t for t in (canonical_tenant_id(token) for token in tokens) if t}
    if not tenants:
        raise InvalidScope("scope must name the tenant (an Azure AD tenant GUID)")
    if len(tenants) > 1:
        raise InvalidScope("scope must name exactly one tenant")
    return tenants.pop()


async def client_credentials_grant(services: Services, client: Client, scope: str | None) -> IssuedToken:
    """Issue a token for an authenticated ``client`` and its requested tenant (§4.4.2, §4.4.3)."""
    if not client.allowed_tenants:
        raise UnauthorizedClient("this client is not authorized for any tenant")
    tenant = requested_tenant(scope)
    if not client.allows_tenant(tenant):
        raise InvalidScope("the requested tenant is not allowed for this client")
    if await route_directory(services).enabled_route(tenant) is None:
        raise InvalidScope("the requested tenant has no enabled route")
    return await issue_access_token(services, client_id=client.client_id, tenant_id=tenant)
