"""The SecretStore on Azure Key Vault, through the production async ``SecretClient``.

Secrets API: https://learn.microsoft.com/rest/api/keyvault/secrets. Built by
:meth:`KeyVaultSecretStore.from_settings` from KEY_VAULT_URL,
KEY_VAULT_CA_BUNDLE, KEY_VAULT_VERIFY_CHALLENGE_RESOURCE and
KEY_VAULT_CREDENTIAL (``managed-identity`` in Azure, ``emulator`` locally).

Fails fast on an outage (one retry of a failed connection or read, none of an
HTTP status; 3 s connect and 10 s read timeouts; reads also bounded by
STORE_READ_TIMEOUT_SECONDS, so a vault that accepts connections but never answers
costs a reader that long) and maps azure-core errors onto the store contract
(``gateway.stores.protocols``):

    ResourceNotFoundError                           -> None (get) / NotFound (update) / ignored (delete)
    HTTP 429 (throttled)                            -> StoreThrottled with its Retry-After: the caller waits,
                                                       not this request (https://learn.microsoft.com/azure/
                                                       key-vault/general/overview-throttling)
    ServiceRequestError, ServiceResponseError,
    timeouts, HTTP 5xx, refused credential          -> StoreUnavailable
    HTTP 409 (name deleted but recoverable)         -> AlreadyExists
    any other HTTP error                            -> StoreError

Exception messages name the operation, the secret name and the HTTP status
only; the azure-core exception is not chained (``from None``) because its
request may carry the secret value.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.secrets import SecretProperties
from azure.keyvault.secrets.aio import SecretClient

from gateway.config import Settings, SettingsError
from gateway.managed_identity import store_credential
from gateway.stores.errors import AlreadyExists, NotFound, StoreError, StoreThrottled, StoreUnavailable
from gateway.stores.models import StoredSecret

if TYPE_CHECKING:  # azure-core exports it through a module __getattr__, which type checkers read as Any
    from azure.core.pipeline.transport._aiohttp import AioHttpTransport
else:
    from azure.core.pipeline.transport import AioHttpTransport

NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
RETRY_TOTAL = 1
RETRY_BACKOFF_FACTOR = 0.2
DELETE_POLL_SECONDS = 0.5
DEFAULT_RETRY_AFTER_SECONDS = 10.0
"""What a 429 without ``Retry-After`` asks (Key Vault's limits count over 10 s)."""
LIST_THROTTLE_ATTEMPTS = 10
"""A listing asks a throttled page again this many times (each after its Retry-After), from where it was."""


class EmulatorCredential:
    """Async credential for the local Key Vault emulator: a fixed development token (it accepts any).

    Implements ``AsyncTokenCredential`` and ``AsyncSupportsTokenInfo`` of azure-core.
    """

    TOKEN = "keyvault-emulator-development-token"

    async def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                        enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        return AccessToken(self.TOKEN, int(time.time()) + 3600)

    async def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.TOKEN, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> EmulatorCredential:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class _TrustingTransport(AioHttpTransport):
    """aiohttp transport trusting one CA bundle through a single, reused SSLContext.

    Passing ``connection_verify=<path>`` to the client makes azure-core build a
    new ``SSLContext`` for every request; aiohttp keys its connection pool on
    the context, so every request would pay a fresh TCP and TLS handshake
    (measured on loopback against the emulator: about 3.3 ms per ``get_secret``
    that way, 0.9 ms with this transport). The context here lives on the
    session's connector instead.
    """

    def __init__(self, ca_bundle: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ssl_context = ssl.create_default_context(cafile=ca_bundle)

    async def open(self) -> None:
        if self.session is None and not self._has_been_opened:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl_context),
                cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False, trust_env=self._use_env_settings)
        await super().open()  # type: ignore[no-untyped-call]  # azure-core leaves this method unannotated


def make_credential(settings: Settings) -> Any:
    """The async credential KEY_VAULT_CREDENTIAL asks for."""
    if settings.key_vault_credential == "emulator":
        return EmulatorCredential()
    return store_credential(settings.azure_client_id)


def client_options(settings: Settings) -> dict[str, Any]:
    """Options of every Key Vault SDK client (secrets, keys, signing): fail fast (one retry of a failed connection
    or read, none of an HTTP status: a 429's Retry-After is the caller's to honour; 3 s connect / 10 s read
    timeouts), the challenge resource check, and a transport trusting KEY_VAULT_CA_BUNDLE when it is set."""
    options: dict[str, Any] = {"verify_challenge_resource": settings.key_vault_verify_challenge_resource,
                               "retry_total": RETRY_TOTAL, "retry_status": 0,
                               "retry_backoff_factor": RETRY_BACKOFF_FACTOR,
                               "connection_timeout": CONNECT_TIMEOUT_SECONDS,
                               "read_timeout": READ_TIMEOUT_SECONDS}
    if settings.key_vault_ca_bundle:
        try:
            options["transport"] = _TrustingTransport(settings.key_vault_ca_bundle,
                                                      connection_timeout=CONNECT_TIMEOUT_SECONDS,
                                                      read_timeout=READ_TIMEOUT_SECONDS)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(f"KEY_VAULT_CA_BUNDLE: cannot load {settings.key_vault_ca_bundle!r} as a PEM "
                                f"CA bundle ({exc.__class__.__name__}: {exc.strerror or exc})") from None
    return options


def _stored(props: SecretProperties, value: str | None) -> StoredSecret:
    return StoredSecret(
        name=props.name or "", value=value, version=props.version or "",
        enabled=props.enabled is not False, tags=dict(props.tags or {}), content_type=props.content_type,
        created_on=props.created_on, updated_on=props.updated_on, expires_on=props.expires_on,
        not_before=props.not_before)


def _created(props: SecretProperties) -> float:
    return props.created_on.timestamp() if props.created_on else 0.0


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError("Key Vault secret names are 1-127 letters, digits and hyphens")


def retry_after(error: HttpResponseError) -> float:
    """The seconds a 429 answer asks to wait (``Retry-After``, RFC 9110 §10.2.3, in seconds), else the default."""
    response = getattr(error, "response", None)
    raw = response.headers.get("Retry-After") if response is not None else None
    try:
        return min(max(float(raw), 0.0), 300.0) if raw is not None else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS


@contextmanager
def _translated(operation: str, name: str = "") -> Iterator[None]:
    """Map azure-core errors onto the store contract, without chaining them (their request may hold a value)."""
    target = f" of secret {name}" if name else ""
    try:
        yield
    except ClientAuthenticationError as exc:
        status = getattr(exc, "status_code", None)
        raise StoreUnavailable(f"Key Vault refused the credential for {operation}{target}"
                               + (f" (HTTP {status})" if status else "")) from None
    except HttpResponseError as exc:
        status = exc.status_code or 0
        code = exc.error.code if exc.error is not None else None
        detail = f"HTTP {status}" + (f" {code}" if code else "")
        if status == 429:
            raise StoreThrottled(f"Key Vault throttled {operation}{target}: {detail}", retry_after(exc)) from None
        if status >= 500 or status in (401, 403):
            raise StoreUnavailable(f"Key Vault failed {operation}{target}: {detail}") from None
        if status == 409:
            raise AlreadyExists(f"Key Vault refused {operation}{target}: {detail} (the name is deleted but "
                                "recoverable; recover or purge it first)") from None
        raise StoreError(f"Key Vault refused {operation}{target}: {detail}") from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise StoreUnavailable(f"Key Vault unreachable for {operation}{target}: {type(exc).__name__}") from None
    except (TimeoutError, AzureError, aiohttp.ClientError, OSError) as exc:
        raise StoreUnavailable(f"Key Vault failed {operation}{target}: {type(exc).__name__}") from None


class KeyVaultSecretStore:
    """SecretStore over ``azure.keyvault.secrets.aio.SecretClient`` (one per worker)."""

    def __init__(self, client: SecretClient, credential: Any = None, *,
                 delete_poll_seconds: float = DELETE_POLL_SECONDS, read_timeout: float | None = None) -> None:
        self._client = client
        self._credential = credential
        self._delete_poll_seconds = delete_poll_seconds
        self._read_timeout = read_timeout  # bound of each read as a whole (writes: the SDK's timeouts only)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyVaultSecretStore:
        """A store for KEY_VAULT_URL, failing fast (one retry, 3 s connect / 10 s read timeouts)."""
        if not settings.key_vault_url:
            raise SettingsError("KEY_VAULT_URL: required for the Key Vault secret store")
        options = client_options(settings)
        credential = make_credential(settings)
        client = SecretClient(settings.key_vault_url, credential, **options)
        return cls(client, credential, read_timeout=settings.store_read_timeout_seconds)

    async def set(self, name: str, value: str, *, tags: dict[str, str] | None = None,
                  content_type: str | None = None, expires_on: datetime | None = None,
                  enabled: bool = True) -> StoredSecret:
        """Create a new version, which becomes the latest (PUT /secrets/{name})."""
        _check_name(name)
        with _translated("set", name):
            secret = await self._client.set_secret(name, value, enabled=enabled, tags=tags,
                                                   content_type=content_type, expires_on=expires_on)
        return _stored(secret.properties, secret.value)

    async def get(self, name: str, version: str | None = None) -> StoredSecret | None:
        """Latest (or given) version with its value; None if absent, deleted or not a valid name.

        A disabled version's value is refused by Key Vault (403); it comes back
        with ``enabled=False`` and ``value=None``.
        """
        if not isinstance(name, str) or not NAME_RE.match(name):
            return None
        with _translated("get", name):
            async with asyncio.timeout(self._read_timeout):
                try:
                    secret = await self._client.get_secret(name, version)
                except ResourceNotFoundError:
                    return None
                except HttpResponseError as exc:
                    if exc.status_code != 403:
                        raise
                    disabled = await self._disabled_version(name, version)
                    if disabled is None:
                        raise
                    return disabled
        return _stored(secret.properties, secret.value)

    async def _disabled_version(self, name: str, version: str | None) -> StoredSecret | None:
        """Properties of a disabled version (Key Vault refuses its value), or None if it is not one."""
        chosen: SecretProperties | None = None
        async for props in self._client.list_properties_of_secret_versions(name):
            if version is not None and props.version == version:
                chosen = props
                break
            if version is None and (chosen is None or _created(props) >= _created(chosen)):
                chosen = props
        if chosen is None or chosen.enabled is not False:
            return None
        return _stored(chosen, None)

    async def versions(self, name: str) -> builtins.list[StoredSecret]:
        """Properties of every version of ``name``, oldest first (``version`` set, no value); [] when absent."""
        if not isinstance(name, str) or not NAME_RE.match(name):
            return []
        with _translated("list versions", name):
            async with asyncio.timeout(self._read_timeout):
                try:
                    found = [props async for props in self._client.list_properties_of_secret_versions(name)]
                except ResourceNotFoundError:
                    return []
        return [_stored(props, None) for props in sorted(found, key=lambda p: (_created(p), p.version or ""))]

    async def list(self) -> list[StoredSecret]:
        """Properties of every secret's latest version, without values (an administrator's listing: workers
        never list).

        Read a page at a time, each bounded by the read timeout; a page Key Vault throttles is asked again
        after its Retry-After, from where the listing was, never from the start. Key Vault's listing does not
        name versions: ``version`` is ``""`` here.
        """
        found: list[StoredSecret] = []
        token: str | None = None
        throttled = 0
        while True:
            try:
                items, token = await self._list_page(token)
            except StoreThrottled as error:
                throttled += 1
                if throttled > LIST_THROTTLE_ATTEMPTS:
                    raise
                await asyncio.sleep(error.retry_after)
                continue
            found.extend(items)
            if token is None:
                return found

    async def _list_page(self, token: str | None) -> tuple[builtins.list[StoredSecret], str | None]:
        """One page of the listing from ``token`` on, and the token of the next (None after the last)."""
        with _translated("list"):
            async with asyncio.timeout(self._read_timeout):
                pages = self._client.list_properties_of_secrets().by_page(continuation_token=token)
                try:
                    page = await anext(pages)
                except StopAsyncIteration:
                    return [], None
                items = [_stored(props, None) async for props in page]
                following: str | None = getattr(pages, "continuation_token", None)  # AsyncPageIterator's
                return items, following or None

    async def update(self, name: str, *, enabled: bool | None = None, tags: dict[str, str] | None = None,
                     expires_on: datetime | None = None) -> StoredSecret:
        """Update the latest version's attributes (PATCH /secrets/{name}/); NotFound if absent."""
        _check_name(name)
        changes: dict[str, Any] = {}
        if enabled is not None:
            changes["enabled"] = enabled
        if tags is not None:
            changes["tags"] = tags
        if expires_on is not None:
            changes["expires_on"] = expires_on
        with _translated("update", name):
            try:
                props = await self._client.update_secret_properties(name, **changes)
            except ResourceNotFoundError:
                raise NotFound(f"secret {name}") from None
        return _stored(props, None)

    async def delete(self, name: str) -> None:
        """Delete every version (soft delete), wait until it is deleted, then purge it.

        A purge the vault refuses (purge protection, or no purge permission:
        HTTP 403) is ignored; the secret then stays recoverable until Key Vault
        purges it. Absent is not an error.
        """
        if not isinstance(name, str) or not NAME_RE.match(name):
            return
        with _translated("delete", name):
            try:
                # _polling_interval: the SDK's poll period (default 2 s) while the deletion completes.
                await self._client.delete_secret(name, _polling_interval=self._delete_poll_seconds)
            except ResourceNotFoundError:
                pass
            try:
                await self._client.purge_deleted_secret(name)
            except ResourceNotFoundError:
                pass
            except HttpResponseError as exc:
                if exc.status_code != 403:
                    raise

    async def aclose(self) -> None:
        """Close the client's HTTP session and the credential."""
        await self._client.close()
        closer = getattr(self._credential, "close", None)
        if closer is not None:
            await closer()
