"""The provider tokens of one worker: fetched by the route's kind (``gateway.upstream.registry``), cached per route.

A token is kept until shortly before it expires, keyed by tenant with the route's stored upstream
authentication and FHIR base beside it, so that an edited route fetches a fresh one instead of piling up
entries; concurrent misses for one route share one token request (single flight). A route whose kind sends
no credentials (``none``) is answered at once, without a lock or a lookup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.config import Settings
from gateway.managed_identity import managed_identity_credential
from gateway.outbound.transport import Transport
from gateway.stores.models import Route, UpstreamAuth
from gateway.stores.protocols import SecretStore
from gateway.upstream.kind import AssertionSigner, FetchContext, ProviderToken
from gateway.upstream.registry import KINDS, kind_named

_CacheKey = tuple[UpstreamAuth, str]
"""What a cached provider token was fetched for: the route's stored upstream authentication and FHIR base."""


class UpstreamAuthenticator:
    """Per-worker provider token cache: provider client secrets from ``secrets``, assertions signed by
    ``signer``, the managed identity from ``credential_factory`` (``AZURE_CLIENT_ID`` of ``settings``)."""

    def __init__(self, *, settings: Settings, secrets: SecretStore, signer: AssertionSigner,
                 credential_factory: Callable[[str | None], Any] | None = None) -> None:
        self._settings = settings
        self._secrets = secrets
        self._signer = signer
        self._tokens: dict[str, tuple[_CacheKey, ProviderToken]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._credential_factory = credential_factory or managed_identity_credential
        self._credential: Any = None

    async def authorization(self, route: Route, transport: Transport) -> str | None:
        """The ``Authorization`` header value for ``route``, or None for a kind that sends none."""
        record = route.upstream_auth
        kind = KINDS.get(record.type)
        if kind is not None and not kind.sends_credentials:
            return None
        key = (record, route.fhir_base_url)
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

    def _cached(self, tenant_id: str, key: _CacheKey) -> ProviderToken | None:
        found = self._tokens.get(tenant_id)
        if found is None or found[0] != key or time.monotonic() >= found[1].expires_at:
            return None
        return found[1]

    def forget(self, route: Route) -> None:
        """Drop the cached token (the provider answered 401: it may have been revoked)."""
        self._tokens.pop(route.tenant_id, None)

    async def _fetch(self, route: Route, transport: Transport) -> ProviderToken:
        kind = kind_named(route.upstream_auth.type)
        value = kind.from_record(route.upstream_auth)
        context = FetchContext(settings=self._settings, transport=transport, secrets=self._secrets,
                               signer=self._signer, identity=self._identity)
        return await kind.fetch(value, route, context)

    def _identity(self) -> Any:
        """The gateway's managed identity credential, built on its first use."""
        if self._credential is None:
            self._credential = self._credential_factory(self._settings.azure_client_id)
        return self._credential

    async def aclose(self) -> None:
        credential, self._credential = self._credential, None
        closer = getattr(credential, "close", None)
        if closer is not None:
            result = closer()
            if isinstance(result, Awaitable):
                await result
