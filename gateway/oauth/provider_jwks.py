"""``GET /oauth2/provider-jwks``: the public keys the gateway signs provider assertions with (RFC 7517 §5).

The URL a hospital registers as the gateway's JWKS URL for SMART Backend Services. No authentication; only
public members (``kty``, ``n``/``e`` or ``crv``/``x``/``y``) with ``kid`` (RFC 7638 thumbprint), ``alg`` and
``use: sig``. ``?key=<keyName>`` gives the set of a route's own key instead of the gateway's (``gateway``), so
a hospital that registered one key trusts no other. Cacheable for PROVIDER_JWKS_MAX_AGE_SECONDS; which versions
it lists follows the publication rule of ``gateway.tokens.provider_keys``.
"""

from __future__ import annotations

from gateway.http import Request, Response, json_response
from gateway.oauth.errors import NO_STORE, MethodNotAllowed, ServiceUnavailable
from gateway.oauth.jwk_set import jwk_set_response
from gateway.stores.errors import StoreError
from gateway.tokens.provider_keys import DEFAULT_KEY_NAME, ProviderKeyRing, key_name_problem


class ProviderJwksEndpoint:
    """The provider JWKS of ``ring``'s keys, cacheable for ``max_age`` seconds (PROVIDER_JWKS_MAX_AGE_SECONDS)."""

    def __init__(self, ring: ProviderKeyRing, *, max_age: int) -> None:
        self._ring = ring
        self._max_age = max_age

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return MethodNotAllowed("GET").response()
        key_name = request.query_value("key") or DEFAULT_KEY_NAME
        if key_name_problem(key_name) is not None:
            return json_response(404, {"error": "not_found", "error_description": "no such key set"},
                                 headers=NO_STORE)
        try:
            jwks = await self._ring.jwks(key_name)
        except StoreError:
            return ServiceUnavailable().response()
        return jwk_set_response(request, jwks, max_age=self._max_age)
