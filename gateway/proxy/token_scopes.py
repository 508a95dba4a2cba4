"""What a verified access token may do: its SMART scopes, bounded by its client's current ``allowedScopes``.

A token carrying SMART scopes (``scope`` = tenant, then v2 scopes) grants those; a tenant-only
token (the Teams Patients app's request names the tenant alone) grants the client's allowed
scopes. Either way the client's allowed scopes *now* bound the answer, so narrowing a client's
``allowedScopes`` takes effect within ``CLIENT_CACHE_SECONDS`` for tokens already issued.
Parsed scopes are memoized per text (a client's ``allowedScopes`` rarely changes).
"""

from __future__ import annotations

import functools

from gateway.scopes import ScopeSyntaxError, SmartScopes
from gateway.stores.models import Client
from gateway.tokens.access_tokens import AccessTokenClaims


@functools.lru_cache(maxsize=1024)
def _allowed(text: str) -> SmartScopes:
    try:
        return SmartScopes.parse(text)
    except ScopeSyntaxError:
        return SmartScopes()  # an unusable stored value grants nothing (fail closed)


def token_scopes(claims: AccessTokenClaims, client: Client) -> SmartScopes:
    """The SMART scopes a request with this token may use."""
    allowed = _allowed(client.allowed_scopes)
    return allowed if claims.smart_scopes is None else claims.smart_scopes & allowed
