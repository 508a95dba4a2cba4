"""How the gateway authenticates to a provider (docs/proxy.md, "Upstream authentication").

- ``none``: no ``Authorization`` header.
- ``clientCredentials``: OAuth 2.0 client credentials grant (RFC 6749 §4.4) at the provider's
  token endpoint, client authenticated with HTTP Basic (RFC 6749 §2.3.1); the client secret is
  read from Key Vault (the secret store, by the route's ``secret_name``) and never logged.
- ``managedIdentity``: ``azure.identity.aio.ManagedIdentityCredential`` (``AZURE_CLIENT_ID``
  picks a user-assigned identity), only ever for the provider's own origin,
  ``<scheme>://<host>[:port]/.default`` (Azure Health Data Services form): a stored scope naming
  anything else is refused before any token is requested (``gateway.outbound.identity_scopes``).
- ``privateKeyJwt``: SMART Backend Services (SMART App Launch 2.x, "Backend Services"): the client
  credentials grant authenticated by an RFC 7523 client assertion (``client_assertion_type``
  ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``) that the gateway signs with its Key Vault key
  (``gateway.tokens.provider_keys``); the assertion's ``aud`` is the route's saved ``tokenUrl``, which must pass
  the provider URL rules before anything is signed.

Provider tokens are cached per route until shortly before they expire; concurrent misses for
one route share one token request (single flight).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from gateway.config import Settings
from gateway.managed_identity import managed_identity_credential
from gateway.outbound.destinations import validate_provider_url
from gateway.outbound.identity_scopes import provider_scope, scope_problem, token_scope
from gateway.outbound.transport import Transport, UpstreamError, UpstreamRequest
from gateway.stores.models import Route
from gateway.stores.protocols import SecretStore
from gateway.tokens.provider_keys import (
    CLIENT_ASSERTION_TYPE,
    DEFAULT_KEY_NAME,
    ProviderKeyRing,
    ProviderKeyUnavailable,
)

logger = logging.getLogger("gateway.proxy.upstream_auth")

REFRESH_MARGIN_SECONDS = 60.0


class UpstreamAuthError(Exception):
    """No provider token could be obtained (502); the message is safe to show."""


_RouteAuthKey = tuple[str | None, ...]
"""What a cached provider token was fetched for: the route's tenant, auth settings and FHIR base."""


@dataclass
class _Token:
    value: str
    expires_at: float  # time.monotonic() scale


def default_scope(route: Route) -> str:
    """``<provider origin>/.default`` (scheme, host and non-default port of the base, as Entra ID expects)."""
    scope = provider_scope(route.fhir_base_url)
    if scope is None:
        raise UpstreamAuthError("The connection's provider authentication is not configured correctly.")
    return scope


class UpstreamAuthenticator:
    """Per-worker provider token cache: provider client secrets from ``secrets``, assertions signed by
    ``provider_keys``, the managed identity from ``credential_factory``."""

    def __init__(self, *, settings: Settings, secrets: SecretStore, provider_keys: ProviderKeyRing,
                 credential_factory: Callable[[str | None], Any] | None = None) -> None:
        self._settings = settings
        self._secrets = secrets
        self._provider_keys = provider_keys
        # Keyed by tenant (bounded by the route count); the route's auth configuration travels with the
        # token so that an edited route fetches a fresh one instead of piling up entries.
        self._tokens: dict[str, tuple[_RouteAuthKey, _Token]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._credential_factory = credential_factory or managed_identity_credential
        self._credential: Any = None

    @staticmethod
    def _key(route: Route) -> _RouteAuthKey:
        auth = route.upstream_auth
        return (route.tenant_id, auth.type, auth.token_url, auth.client_id, auth.scope, auth.secret_name,
                auth.algorithm, auth.key_name, route.fhir_base_url)

    async def authorization(self, route: Route, transport: Transport) -> str | None:
        """The ``Authorization`` header value for ``route``, or None for ``none``."""
        if route.upstream_auth.type == "none":
            return None
        key = self._key(route)
        token = self._cached(route.tenant_id, key)
        if token is not None:
            return f"Bearer {token.value}"
        lock = self._locks.setdefault(route.tenant_id, asyncio.Lock())
        async with lock:
            token = self._cached(route.tenant_id, key)
            if token is None:
                token = await self._fetch(route, transport)
                self._tokens[route.tenant_id] = (key, token)
        return f"Bearer {token.value}"

    def _cached(self, tenant_id: str, key: _RouteAuthKey) -> _Token | None:
        found = self._tokens.get(tenant_id)
        if found is None or found[0] != key or time.monotonic() >= found[1].expires_at:
            return None
        return found[1]

    def forget(self, route: Route) -> None:
        """Drop the cached token (the provider answered 401: it may have been revoked)."""
        self._tokens.pop(route.tenant_id, None)

    async def _fetch(self, route: Route, transport: Transport) -> _Token:
        if route.upstream_auth.type == "clientCredentials":
            return await self._client_credentials(route, transport)
        if route.upstream_auth.type == "managedIdentity":
            return await self._managed_identity(route)
        if route.upstream_auth.type == "privateKeyJwt":
            return await self._private_key_jwt(route, transport)
        raise UpstreamAuthError("The connection's provider authentication is not configured correctly.")

    async def _client_credentials(self, route: Route, transport: Transport) -> _Token:
        auth = route.upstream_auth
        settings = self._settings
        if not (auth.token_url and auth.client_id and auth.secret_name):
            raise UpstreamAuthError("The connection's provider authentication is not configured correctly.")
        if validate_provider_url(auth.token_url, settings, route.private_network):
            raise UpstreamAuthError("The provider's token endpoint is not an allowed URL.")
        try:
            stored = await self._secrets.get(auth.secret_name)
        except Exception:  # noqa: BLE001 - any Key Vault failure is the same answer to the client
            logger.warning("provider secret unavailable tenant=%s", route.tenant_id)
            raise UpstreamAuthError("The provider's credentials are unavailable.") from None
        if stored is None or not stored.value or not stored.enabled:
            raise UpstreamAuthError("The provider's credentials are unavailable.")
        basic = base64.b64encode(f"{quote(auth.client_id, safe='')}:{quote(stored.value, safe='')}"
                                 .encode()).decode("ascii")
        form = {"grant_type": "client_credentials"}
        if auth.scope:
            form["scope"] = auth.scope
        return await self._token_request(route, transport, form, [("Authorization", f"Basic {basic}")])

    async def _private_key_jwt(self, route: Route, transport: Transport) -> _Token:
        """SMART Backend Services token request ("Authenticating to the token service"; RFC 7523 §2.2)."""
        auth = route.upstream_auth
        if not (auth.token_url and auth.client_id and auth.algorithm):
            raise UpstreamAuthError("The connection's provider authentication is not configured correctly.")
        # Checked before signing, not only when the route was saved: a route written to the table directly (or
        # saved under older rules) must never make the gateway sign an assertion for a forbidden address.
        if validate_provider_url(auth.token_url, self._settings, route.private_network):
            raise UpstreamAuthError("The provider's token endpoint is not an allowed URL.")
        try:
            assertion = await self._provider_keys.assertion(
                auth.key_name or DEFAULT_KEY_NAME, auth.algorithm, auth.client_id, auth.token_url)
        except ProviderKeyUnavailable as exc:
            logger.warning("provider assertion key unavailable tenant=%s", route.tenant_id)
            raise UpstreamAuthError(str(exc)) from None
        form = {"grant_type": "client_credentials", "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion}
        if auth.scope:
            form["scope"] = auth.scope
        return await self._token_request(route, transport, form, [])

    async def _token_request(self, route: Route, transport: Transport, form: dict[str, str],
                             headers: list[tuple[str, str]]) -> _Token:
        """POST the token request to the route's token URL and read the token (RFC 6749 §5.1)."""
        auth = route.upstream_auth
        settings = self._settings
        assert auth.token_url is not None
        request = UpstreamRequest(
            method="POST", url=auth.token_url,
            headers=[*headers, ("Accept", "application/json"),
                     ("Content-Type", "application/x-www-form-urlencoded")],
            body=urlencode(form).encode("ascii"),
            connect_timeout=route.connect_timeout_seconds or settings.proxy_connect_timeout_seconds,
            read_timeout=route.read_timeout_seconds or settings.proxy_read_timeout_seconds,
            private_network=route.private_network, max_response_bytes=64 * 1024)
        started = time.monotonic()
        try:
            response = await transport.send(request)
        except UpstreamError:
            raise UpstreamAuthError("The provider's token endpoint could not be reached.") from None
        try:
            payload = json.loads(response.body) if response.status == 200 else None
            value = payload["access_token"] if isinstance(payload, dict) else None
            expires_in = float(payload.get("expires_in", 300)) if isinstance(payload, dict) else 0.0
            if not math.isfinite(expires_in):  # 1e999, "Infinity", "NaN": as if absent, not "forever"
                expires_in = 300.0
        except (ValueError, TypeError, KeyError, RecursionError, OverflowError):  # whatever the provider sent
            value, expires_in = None, 0.0
        if not isinstance(value, str) or not value:
            logger.warning("provider token request refused tenant=%s status=%s", route.tenant_id, response.status)
            raise UpstreamAuthError("The provider refused the gateway's credentials.")
        return _Token(value, started + _lifetime(expires_in))

    async def _managed_identity(self, route: Route) -> _Token:
        # Checked again here, not only when the route was saved: a route stored before the rule (or written
        # to the table directly) must never obtain a token for another resource (Key Vault, Storage...).
        refused = scope_problem(route.fhir_base_url, route.upstream_auth.scope)
        if refused is not None:
            logger.warning("managed identity scope refused tenant=%s field=%s", route.tenant_id, refused[0])
            raise UpstreamAuthError("The connection's provider authentication is not configured correctly.")
        scope = token_scope(route.fhir_base_url)
        if self._credential is None:
            self._credential = self._credential_factory(self._settings.azure_client_id)
        try:
            token = await self._credential.get_token(scope)
        except Exception as exc:  # noqa: BLE001 - azure-identity raises several types
            logger.warning("managed identity token failed tenant=%s type=%s", route.tenant_id, type(exc).__name__)
            raise UpstreamAuthError("The gateway could not obtain a token for the provider.") from None
        return _Token(token.token, time.monotonic() + _lifetime(token.expires_on - time.time()))

    async def aclose(self) -> None:
        credential, self._credential = self._credential, None
        closer = getattr(credential, "close", None)
        if closer is not None:
            result = closer()
            if isinstance(result, Awaitable):
                await result


def _lifetime(expires_in: float) -> float:
    """Seconds a provider token is reused: until a margin before expiry (at most a tenth of it)."""
    return max(0.0, expires_in - min(REFRESH_MARGIN_SECONDS, expires_in / 10))
