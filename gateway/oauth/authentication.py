"""Checking a presented client secret (RFC 6749 §2.3.1, §10.1; the secret format is gateway.credentials).

The presented secret names its secret id; the client record (cached per worker
by ``client_directory``) must list that id, unexpired, and the client must be
enabled. The verifier (a salted HMAC, never the secret) comes from Key Vault
through a per-worker cache keyed by (client id, secret id) that lives
``CLIENT_CACHE_SECONDS`` with stale-if-error; the comparison is constant time.
A secret id the cached record does not know triggers one reload of the record
(at most once per ``RELOAD_INTERVAL_SECONDS`` per client), so a secret created
on another worker works at once while random ids cannot flood Table Storage.

Every failure raises :class:`AuthenticationFailed` whose ``reason`` goes to the
log only; the client always sees the same ``invalid_client``. An unknown client
id, an unknown secret id and a secret not of the gateway's format cost the same
as a known client's wrong secret: the presented secret is checked against a
dummy verifier, and unknown ids are answered from the worker's list of client
ids (``gateway.oauth.known_clients``) instead of a store read per attempt.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import Protocol

from gateway.caching import TtlCache
from gateway.clock import Clock
from gateway.config import Settings
from gateway.credentials import check_verifier, make_verifier, secret_id_of, verifier_secret_name
from gateway.oauth.client_auth import ClientCredentials
from gateway.stores.models import Client, SecretMetadata, StoredSecret
from gateway.stores.protocols import SecretStore

RELOAD_INTERVAL_SECONDS = 1.0
_MAX_RELOAD_ENTRIES = 10_000
_DUMMY_VERIFIER = make_verifier(secrets.token_urlsafe(32))  # matches no presented secret
UNKNOWN_CLIENT = "unknown client"
NOT_OUR_FORMAT = "secret not of the gateway's format"


class AuthenticationFailed(Exception):
    """The credentials do not authenticate a client; ``reason`` is for the log, never the response.

    ``description``: what the client may be told (RFC 6749 §5.2 ``error_description``), None for the
    generic ``invalid_client`` one.
    """

    def __init__(self, reason: str, description: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.description = description

    @property
    def guessed_a_client(self) -> bool:
        """Whether the attempt could have been a guess at an existing client's credentials (its failure counts
        per client): not for an unknown client id, nor for a secret that cannot be one of ours."""
        return self.reason not in (UNKNOWN_CLIENT, NOT_OUR_FORMAT)


class KnownClients(Protocol):
    """The worker's list of client ids (``gateway.oauth.known_clients.KnownClientIds``)."""

    async def may_exist(self, client_id: str) -> bool: ...

    def found(self, client_id: str) -> None: ...


class ClientRecords(Protocol):
    """Cached client records (``gateway.directory.ClientDirectory``)."""

    def cached(self, key: str) -> Client | None: ...

    async def get(self, key: str) -> Client | None: ...

    async def reload(self, key: str) -> Client | None: ...


class ClientAuthenticator:
    """Checks presented secrets: the client id against ``known`` and ``clients``, the secret against its
    verifier in ``secrets`` (cached ``CLIENT_CACHE_SECONDS``)."""

    def __init__(self, *, known: KnownClients, clients: ClientRecords, secrets: SecretStore, settings: Settings,
                 clock: Clock) -> None:
        self._known = known
        self._clients = clients
        self._secrets = secrets
        self._prefix = settings.key_vault_secret_prefix
        self._clock = clock
        self._verifiers: TtlCache[tuple[str, str], StoredSecret | None] = TtlCache(
            self._load_verifier, ttl=settings.client_cache_seconds, stale_if_error=settings.stale_if_error_seconds,
            clock=clock, name="verifiers")
        self._reloaded: OrderedDict[str, float] = OrderedDict()

    async def _load_verifier(self, key: tuple[str, str]) -> StoredSecret | None:
        client_id, secret_id = key
        return await self._secrets.get(verifier_secret_name(self._prefix, client_id, secret_id))

    async def _client_with_secret(self, client_id: str, secret_id: str) -> tuple[Client, SecretMetadata]:
        directory = self._clients
        if directory.cached(client_id) is None and not await self._known.may_exist(client_id):
            raise AuthenticationFailed(UNKNOWN_CLIENT)
        client = await directory.get(client_id)
        if client is None:
            raise AuthenticationFailed(UNKNOWN_CLIENT)
        self._known.found(client_id)
        meta = next((s for s in client.secrets if s.secret_id == secret_id), None)
        if meta is None and self._may_reload(client_id):
            client = await directory.reload(client_id)
            if client is None:
                raise AuthenticationFailed(UNKNOWN_CLIENT)
            meta = next((s for s in client.secrets if s.secret_id == secret_id), None)
        if meta is None:
            raise AuthenticationFailed("unknown secret id")
        return client, meta

    def _may_reload(self, client_id: str) -> bool:
        now = self._clock.monotonic()
        last = self._reloaded.get(client_id)
        if last is not None and now - last < RELOAD_INTERVAL_SECONDS:
            return False
        self._reloaded[client_id] = now
        self._reloaded.move_to_end(client_id)
        while len(self._reloaded) > _MAX_RELOAD_ENTRIES:
            self._reloaded.popitem(last=False)
        return True

    async def authenticate(self, credentials: ClientCredentials) -> Client:
        """The enabled client these credentials authenticate; AuthenticationFailed otherwise.

        May raise StoreUnavailable when a needed record is neither cached nor loadable.
        """
        secret_id = secret_id_of(credentials.client_secret)
        try:
            if secret_id is None:
                raise AuthenticationFailed(NOT_OUR_FORMAT)
            client, meta = await self._client_with_secret(credentials.client_id, secret_id)
        except AuthenticationFailed:
            check_verifier(_DUMMY_VERIFIER, credentials.client_secret)  # the work of a known client's wrong secret
            raise
        now = self._clock.now()
        if meta.expires_on <= now:
            raise AuthenticationFailed("secret expired")
        verifier = await self._verifiers.get((credentials.client_id, secret_id))
        if verifier is None or not verifier.enabled or not verifier.value:
            raise AuthenticationFailed("secret revoked (no verifier)")
        if verifier.expires_on is not None and verifier.expires_on <= now:
            raise AuthenticationFailed("secret expired (verifier)")
        if not check_verifier(verifier.value, credentials.client_secret):
            raise AuthenticationFailed("wrong secret")
        if not client.enabled:
            raise AuthenticationFailed("client disabled")
        return client

    def invalidate(self, client_id: str, secret_id: str) -> None:
        """Forget a cached verifier (the admin API calls this on its own worker after revoking)."""
        self._verifiers.invalidate((client_id, secret_id))
