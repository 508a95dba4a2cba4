"""Composition root: the one place that builds the gateway's parts, each with exactly its collaborators.

``current_services()`` builds the Azure-backed set from the environment on
first use (Table Storage, Key Vault) and keeps it for the worker's life, as the
Functions guidance asks for expensive clients. Tests build their own with
``memory_services(settings)`` or ``build_services(settings)``.

:class:`Services` holds the stores and builds, by name, the per-worker parts over them::

    client_directory, route_directory   cached clients and tenant routes      (gateway.directory)
    change_watcher                      polls the change log that keeps them current
    client_id_keys                      the key client ids are tagged with    (gateway.oauth.client_ids)
    known_client_ids                    unknown client ids, from memory       (gateway.oauth.known_clients)
    client_authenticator                cached secret verifiers               (gateway.oauth.authentication)
    assertion_authenticator             cached client JWKS                    (gateway.oauth.assertion_auth)
    failure_limiter                     token endpoint failure limits         (gateway.oauth.rate_limit)
    key_ring                            the gateway's signing keys            (gateway.tokens.keyring)
    signing_key_admin                   creating and rotating them            (gateway.tokens.key_admin)
    token_issuer, token_verifier        access tokens signed and verified     (gateway.tokens.access_tokens)
    token_endpoint, oauth_endpoints     token_fn's handlers                   (gateway.oauth.endpoint)
    verified_tokens                     verified access tokens                (gateway.proxy.verified_tokens)
    provider_key_ring                   provider assertion keys               (gateway.tokens.provider_keys)
    upstream_authenticator              provider access tokens, by kind       (gateway.upstream)
    provider_transport                  the pooled HTTP client to providers   (gateway.outbound.transport)
    page_links                          page tokens, keyed from the key ring  (gateway.proxy.paging)
    fhir_proxy                          fhir_proxy_fn's handler               (gateway.proxy.forward)
    admin_token_verifier                Entra ID admin token keys             (gateway.admin.entra)
    admin_refusal_budget                refused admin sign-ins recorded       (gateway.admin.access)
    housekeeping                        purging spent assertion ids, counters (gateway.housekeeping)

Each is built on first use (a metadata request never loads the token or proxy code) and closed with the
services. The admin API's resources (``admin_api``, ``admin_endpoint``) hold no per-worker state: they are
built for each admin request over the stores held then. The admin API changes what workers cache through
:meth:`Services.forget_client` and :meth:`Services.forget_route` only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gateway.clock import Clock, SystemClock
from gateway.config import Settings, current_settings
from gateway.lifecycle import close_resource
from gateway.stores.changes import ChangeLog
from gateway.stores.legacy_ids import LegacyClientIds
from gateway.stores.protocols import AuditStore, ClientStore, FailureCounterStore, RouteStore, SecretStore
from gateway.stores.replay import ReplayStore

if TYPE_CHECKING:
    from gateway.admin.access import RefusalBudget
    from gateway.admin.api import AdminApi
    from gateway.admin.endpoint import AdminEndpoint
    from gateway.admin.entra import EntraVerifier
    from gateway.directory import ChangeWatcher, ClientDirectory, RouteDirectory
    from gateway.housekeeping import Housekeeping
    from gateway.oauth.assertion_auth import AssertionAuthenticator
    from gateway.oauth.authentication import ClientAuthenticator
    from gateway.oauth.client_ids import ClientIdKeys
    from gateway.oauth.endpoint import OAuthEndpoints, TokenEndpoint
    from gateway.oauth.known_clients import KnownClientIds
    from gateway.oauth.rate_limit import FailureLimiter
    from gateway.outbound.transport import Transport
    from gateway.proxy.forward import FhirProxy
    from gateway.proxy.paging import PageLinks
    from gateway.proxy.verified_tokens import VerifiedTokens
    from gateway.stores.provider_keys import ProviderKeyStore
    from gateway.tokens.access_tokens import TokenIssuer, TokenVerifier
    from gateway.tokens.key_admin import SigningKeyAdmin
    from gateway.tokens.keyring import KeyRing
    from gateway.tokens.provider_keys import ProviderKeyRing
    from gateway.upstream.authenticator import UpstreamAuthenticator

CredentialFactory = Callable[[str | None], Any]
"""Builds the managed identity credential for a client id (None: the system-assigned identity)."""

_PARTS = ("housekeeping", "change_watcher", "client_directory", "route_directory", "client_authenticator",
          "assertion_authenticator", "client_id_keys", "known_client_ids", "failure_limiter", "key_ring",
          "signing_key_admin", "token_issuer", "token_verifier", "token_endpoint",
          "oauth_endpoints", "verified_tokens", "provider_key_ring", "upstream_authenticator", "provider_transport",
          "page_links", "fhir_proxy", "admin_token_verifier", "admin_refusal_budget")


@dataclass
class Services:
    settings: Settings
    routes: RouteStore
    clients: ClientStore
    audit: AuditStore
    secrets: SecretStore
    clock: Clock = field(default_factory=SystemClock)
    failure_counters: FailureCounterStore | None = None  # shared across instances; None: per-worker limits only
    provider_keys: ProviderKeyStore | None = None  # provider assertion keys; None: none (privateKeyJwt refused)
    replay: ReplayStore | None = None  # client assertion ids, shared across instances; None: private_key_jwt refused
    changes: ChangeLog | None = None  # route and client changes; None: cached records expire after their lifetime
    legacy_ids: LegacyClientIds | None = None  # client ids not issued with a tag; None: looked up a few a second
    transport: Transport | None = None  # to the providers; None: aiohttp with the settings' limits
    credential_factory: CredentialFactory | None = None  # managed identity; None: gateway.managed_identity
    _closers: list[Any] = field(default_factory=list, init=False, repr=False)

    # -- what the token endpoint and the proxy share -------------------------------------------------------------

    @cached_property
    def change_watcher(self) -> ChangeWatcher | None:
        if self.changes is None:
            return None
        from gateway.directory import ChangeWatcher

        settings = self.settings
        return ChangeWatcher(self.changes, self.clock,
                             shortest_ttl=min(settings.client_cache_seconds, settings.route_cache_seconds))

    @cached_property
    def client_directory(self) -> ClientDirectory:
        from gateway.directory import ClientDirectory

        return ClientDirectory(self.clients.get, ttl=self.settings.client_cache_seconds,
                               stale_if_error=self.settings.stale_if_error_seconds, clock=self.clock,
                               watcher=self.change_watcher)

    @cached_property
    def route_directory(self) -> RouteDirectory:
        from gateway.directory import RouteDirectory

        return RouteDirectory(self.routes.get, ttl=self.settings.route_cache_seconds,
                              stale_if_error=self.settings.stale_if_error_seconds, clock=self.clock,
                              watcher=self.change_watcher)

    @cached_property
    def key_ring(self) -> KeyRing:
        from gateway.tokens.keyring import KeyRing, KeyRingPolicy

        return KeyRing(self.secrets, self.clock, KeyRingPolicy.from_settings(self.settings))

    @cached_property
    def signing_key_admin(self) -> SigningKeyAdmin:
        from gateway.tokens.key_admin import SigningKeyAdmin

        return SigningKeyAdmin(self.secrets, self.clock, self.key_ring)

    # -- the token side ------------------------------------------------------------------------------------------

    @cached_property
    def client_id_keys(self) -> ClientIdKeys:
        from gateway.oauth.client_ids import ClientIdKeys

        return ClientIdKeys(self.secrets, self.clock, self.settings.key_vault_secret_prefix)

    @cached_property
    def known_client_ids(self) -> KnownClientIds:
        from gateway.oauth.known_clients import KnownClientIds

        return KnownClientIds(self.client_id_keys, self.legacy_ids, self.clock)

    @cached_property
    def client_authenticator(self) -> ClientAuthenticator:
        from gateway.oauth.authentication import ClientAuthenticator

        return ClientAuthenticator(known=self.known_client_ids, clients=self.client_directory, secrets=self.secrets,
                                   settings=self.settings, clock=self.clock)

    @cached_property
    def assertion_authenticator(self) -> AssertionAuthenticator:
        from gateway.oauth.assertion_auth import AssertionAuthenticator, NoReplayStore
        from gateway.oauth.client_assertion import ClientAssertionVerifier
        from gateway.oauth.jwks_fetcher import JwksFetcher

        settings = self.settings
        replay = self.replay if self.replay is not None else NoReplayStore()
        verifier = ClientAssertionVerifier(token_url=settings.token_url, issuer=settings.issuer, replay=replay,
                                           clock=self.clock, allow_sha256=settings.client_assertion_allow_sha256)
        fetcher = JwksFetcher(settings, clock=self.clock, timeout_seconds=settings.jwks_fetch_timeout_seconds,
                              max_bytes=settings.jwks_max_bytes, stale_if_error_seconds=settings.stale_if_error_seconds,
                              default_ttl_seconds=settings.jwks_default_cache_seconds)
        return AssertionAuthenticator(known=self.known_client_ids, clients=self.client_directory, verifier=verifier,
                                      fetcher=fetcher)

    @cached_property
    def failure_limiter(self) -> FailureLimiter:
        from gateway.oauth.rate_limit import FailureLimiter

        return FailureLimiter.from_settings(self.settings, self.clock, self.failure_counters)

    @cached_property
    def token_issuer(self) -> TokenIssuer:
        from gateway.tokens.access_tokens import TokenIssuer

        return TokenIssuer(self.key_ring, settings=self.settings, clock=self.clock)

    @cached_property
    def token_endpoint(self) -> TokenEndpoint:
        from gateway.oauth.assertion_names import PRIVATE_KEY_JWT
        from gateway.oauth.client_auth import BASIC, POST, ClientAuthentication
        from gateway.oauth.endpoint import TokenEndpoint
        from gateway.oauth.grant import ClientCredentialsGrant

        authentication = ClientAuthentication({BASIC: lambda: self.client_authenticator,
                                               POST: lambda: self.client_authenticator,
                                               PRIVATE_KEY_JWT: lambda: self.assertion_authenticator})
        return TokenEndpoint(authentication=authentication, limits=self.failure_limiter,
                             grant=ClientCredentialsGrant(self.route_directory, self.token_issuer),
                             after_request=self.housekeeping.after_token_request)

    @cached_property
    def oauth_endpoints(self) -> OAuthEndpoints:
        from gateway.oauth.endpoint import JwksEndpoint, OAuthEndpoints

        def provider_jwks() -> Any:
            from gateway.oauth.provider_jwks import ProviderJwksEndpoint

            max_age = self.settings.provider_jwks_max_age_seconds
            return ProviderJwksEndpoint(self.provider_key_ring, max_age=max_age).handle

        return OAuthEndpoints(token=lambda: self.token_endpoint.handle,
                              jwks=lambda: JwksEndpoint(self.key_ring).handle, provider_jwks=provider_jwks)

    @cached_property
    def housekeeping(self) -> Housekeeping:
        from gateway.housekeeping import Housekeeping

        return Housekeeping.for_stores(self.clock, replay=self.replay, counters=self.failure_counters,
                                       changes=self.changes,
                                       window_seconds=self.settings.auth_failure_window_seconds)

    # -- the proxy side ------------------------------------------------------------------------------------------

    @cached_property
    def token_verifier(self) -> TokenVerifier:
        from gateway.tokens.access_tokens import TokenVerifier

        return TokenVerifier(self.key_ring, settings=self.settings, clock=self.clock)

    @cached_property
    def verified_tokens(self) -> VerifiedTokens:
        from gateway.proxy.verified_tokens import VerifiedTokens

        return VerifiedTokens(self.token_verifier, self.clock)

    @cached_property
    def provider_key_ring(self) -> ProviderKeyRing:
        from gateway.tokens.provider_keys import NoProviderKeys, ProviderKeyRing

        settings = self.settings
        store = self.provider_keys if self.provider_keys is not None else NoProviderKeys()
        return ProviderKeyRing(store, name_prefix=settings.key_vault_secret_prefix,
                               jwks_max_age=settings.provider_jwks_max_age_seconds, clock=self.clock)

    @cached_property
    def upstream_authenticator(self) -> UpstreamAuthenticator:
        from gateway.upstream.authenticator import UpstreamAuthenticator

        return UpstreamAuthenticator(settings=self.settings, secrets=self.secrets, signer=self.provider_key_ring,
                                     credential_factory=self.credential_factory)

    @cached_property
    def provider_transport(self) -> Transport:
        from gateway import telemetry

        transport = self.transport
        if transport is None:
            from gateway.outbound.transport import AiohttpTransport

            transport = AiohttpTransport(self.settings)
        return telemetry.traced_transport(transport)

    @cached_property
    def page_links(self) -> PageLinks:
        from gateway.proxy.paging import KeyRingPageKeys, PageLinks

        return PageLinks(KeyRingPageKeys(self.key_ring), clock=self.clock,
                         lifetime_seconds=self.settings.token_lifetime_seconds)

    @cached_property
    def fhir_proxy(self) -> FhirProxy:
        from gateway.proxy.bridge import VersionBridge
        from gateway.proxy.forward import FhirProxy
        from gateway.proxy.rewrite import LinkRewriting

        # The proxy's steps, in order (gateway.proxy.exchange): a request passes them first to last, its answer
        # last to first.
        steps = (LinkRewriting(self.page_links), VersionBridge())
        return FhirProxy(settings=self.settings, tokens=self.verified_tokens, clients=self.client_directory,
                         routes=self.route_directory, upstream_auth=self.upstream_authenticator,
                         transport=self.provider_transport, steps=steps, paging=self.page_links)

    # -- the admin side ------------------------------------------------------------------------------------------

    @cached_property
    def admin_token_verifier(self) -> EntraVerifier:
        from gateway.admin.entra import EntraVerifier

        return EntraVerifier.from_settings(self.settings, self.clock)

    @cached_property
    def admin_refusal_budget(self) -> RefusalBudget:
        from gateway.admin.access import RefusalBudget

        return RefusalBudget()

    @property
    def admin_api(self) -> AdminApi:
        """The admin resources over the stores held now (stateless: built per admin request)."""
        from gateway.admin.api import AdminApi
        from gateway.admin.audit_trail import AuditTrail
        from gateway.admin.client_secrets import ClientSecrets
        from gateway.admin.clients import ClientRecords
        from gateway.admin.document import ApiDocument
        from gateway.admin.openapi import openapi_document
        from gateway.admin.provider_keys import ProviderKeys
        from gateway.admin.provider_metadata import ProviderMetadata
        from gateway.admin.readiness import Deployment
        from gateway.admin.signing_keys import SigningKeys
        from gateway.admin.tenant_routes import TenantRoutes
        from gateway.admin.verifiers import Verifiers

        settings, clock = self.settings, self.clock
        audit = AuditTrail(self.audit, clock)
        verifiers = Verifiers(self.secrets, settings=settings, clock=clock)
        clients = ClientRecords(self.clients, id_keys=self.client_id_keys, verifiers=verifiers, audit=audit,
                                forget=self.forget_client, clock=clock)
        return AdminApi(
            settings=settings, clock=clock, audit=audit, clients=clients,
            client_secrets=ClientSecrets(self.clients, records=clients, verifiers=verifiers, audit=audit,
                                         forget=self.forget_client, clock=clock),
            routes=TenantRoutes(self.routes, secrets=self.secrets, provider_keys=self.provider_key_ring, audit=audit,
                                forget=self.forget_route, settings=settings,
                                versions=ProviderMetadata(self.provider_transport)),
            signing_keys=SigningKeys(self.signing_key_admin, audit),
            provider_keys=ProviderKeys(self.provider_key_ring, audit=audit, public_base_url=settings.public_base_url),
            deployment=Deployment(signing_keys=self.signing_key_admin, client_id_keys=self.client_id_keys,
                                  legacy_ids=self.legacy_ids, clients=self.clients, audit=audit),
            document=ApiDocument(lambda: openapi_document(settings)))

    @property
    def admin_endpoint(self) -> AdminEndpoint:
        """admin_fn's handler over :attr:`admin_api` (its refusal budget and Entra ID keys are per worker)."""
        from gateway.admin.access import AdminAccess
        from gateway.admin.endpoint import AdminEndpoint

        api = self.admin_api
        access = AdminAccess(entra_auth=self.settings.admin_entra_auth, verifier=lambda: self.admin_token_verifier,
                             budget=self.admin_refusal_budget, audit=api.audit, clock=self.clock)
        return AdminEndpoint(api, access, store_timeout=self.settings.store_timeout_seconds)

    # -- changes the admin API makes -----------------------------------------------------------------------------

    def forget_client(self, client_id: str, secret_ids: Iterable[str] = ()) -> None:
        """This worker forgets what it cached of a client: its record, its fetched keys (JWKS) and the
        verifiers of ``secret_ids``. Other workers follow within ``CLIENT_CACHE_SECONDS``."""
        self.client_directory.invalidate(client_id)
        self.assertion_authenticator.forget(client_id)
        for secret_id in secret_ids:
            self.client_authenticator.invalidate(client_id, secret_id)

    def forget_route(self, tenant_id: str) -> None:
        """This worker forgets its cached route of a tenant; others follow within ``ROUTE_CACHE_SECONDS``."""
        self.route_directory.invalidate(tenant_id)

    # -- substitutes (tests, benchmarks) -------------------------------------------------------------------------

    def use_transport(self, transport: Transport) -> Transport:
        """Send provider requests through ``transport`` from now on (a provider stand-in, a resolver), traced
        like the default one; a transport used before is closed with the services. Returns the one in use."""
        previous = self.__dict__.pop("provider_transport", None)
        if previous is not None:
            self._closers.append(previous)
        self.__dict__.pop("fhir_proxy", None)  # built over the previous transport
        self.transport = transport
        return self.provider_transport

    # -- lifetime -----------------------------------------------------------------------------------------------

    def add_closer(self, resource: Any) -> None:
        """Close ``resource`` (``aclose()`` or ``close()``) when the services are closed."""
        self._closers.append(resource)

    async def aclose(self) -> None:
        """Close the parts built so far, then the stores; the parts are built afresh if used again."""
        built = [self.__dict__.pop(name) for name in _PARTS if name in self.__dict__]
        for resource in [*built, *reversed(self._closers)]:
            await close_resource(resource)
        self._closers.clear()


def memory_services(settings: Settings, clock: Clock | None = None, *, transport: Transport | None = None) -> Services:
    """Services on the in-memory store twins (unit tests); ``transport``: a provider stand-in. The vault holds
    what a deployment's does before traffic (``gateway.admin.readiness``): the first signing key and the client
    id key."""
    from gateway.oauth.client_ids import key_secret_name, new_key_value
    from gateway.stores.changes import MemoryChangeLog
    from gateway.stores.legacy_ids import MemoryLegacyClientIds
    from gateway.stores.memory import (
        MemoryAuditStore,
        MemoryClientStore,
        MemoryFailureCounterStore,
        MemoryRouteStore,
        MemorySecretStore,
    )
    from gateway.stores.memory_provider_keys import MemoryProviderKeyStore
    from gateway.stores.replay import MemoryReplayStore
    from gateway.tokens.key_admin import first_key_writes

    clock = clock or SystemClock()
    secrets = MemorySecretStore(clock)
    prefix = settings.key_vault_secret_prefix
    for write in first_key_writes(prefix, clock.now()):
        secrets.put(write.name, write.value, tags=write.tags, content_type=write.content_type)
    value, content_type, tags = new_key_value()
    secrets.put(key_secret_name(prefix), value, tags=tags, content_type=content_type)
    changes = MemoryChangeLog(clock)
    clients = MemoryClientStore(clock, changes)
    return Services(settings=settings, routes=MemoryRouteStore(clock, changes), clients=clients,
                    audit=MemoryAuditStore(), secrets=secrets, clock=clock,
                    failure_counters=MemoryFailureCounterStore(), replay=MemoryReplayStore(clock),
                    provider_keys=MemoryProviderKeyStore(clock), transport=transport, changes=changes,
                    legacy_ids=MemoryLegacyClientIds(clients))


async def build_services(settings: Settings, clock: Clock | None = None, *, create_tables: bool = False) -> Services:
    """Services on Table Storage and Key Vault, as configured by ``settings``. A worker's never create a table
    (``create_tables``: the local tools' stand-in for the deployment, ``gateway.stores.factory``)."""
    from gateway import telemetry
    from gateway.stores.factory import open_azure_stores

    stores = telemetry.traced_stores(await open_azure_stores(settings, create_tables=create_tables), settings)
    services = Services(settings=settings, routes=stores.routes, clients=stores.clients, audit=stores.audit,
                        secrets=stores.secrets, clock=clock or SystemClock(), failure_counters=stores.failure_counters,
                        replay=stores.replay, provider_keys=stores.provider_keys, changes=stores.changes,
                        legacy_ids=stores.legacy_ids)
    services.add_closer(stores)
    return services


_worker: dict[int, Services] = {}
_lock: asyncio.Lock | None = None


def built_services() -> Services | None:
    """This worker's services when they are built already (no await: the hot path's check)."""
    return _worker.get(id(asyncio.get_running_loop()))


async def current_services() -> Services:
    """This worker's services for the running event loop, built on first use."""
    global _lock
    loop_id = id(asyncio.get_running_loop())
    found = _worker.get(loop_id)
    if found is not None:
        return found
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        found = _worker.get(loop_id)
        if found is None:
            found = _worker[loop_id] = await build_services(current_settings())
        return found
