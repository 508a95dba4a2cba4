"""Settings of the gateway, read once from a mapping and validated.

Every setting the application reads is declared in ``SETTINGS`` below: the
Bicep app settings, ``local.settings.sample.json`` and the README's
configuration reference are checked against this table by tests.

``Settings.from_mapping`` takes any mapping (``os.environ`` in the Functions
worker, a plain ``dict`` in tests) and raises :class:`SettingsError` naming the
setting and what is wrong with it, so a misconfigured app fails at start.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

FhirVersion = Literal["DSTU2", "STU3", "R4"]
Environment = Literal["development", "production"]

FHIR_VERSIONS: tuple[FhirVersion, ...] = ("DSTU2", "STU3", "R4")
ENVIRONMENTS: tuple[Environment, ...] = ("development", "production")
LOCAL_BASE_URL = "http://localhost:7071"
# Provider timeouts (settings and per-route values) stay below Azure's 230 s HTTP limit together,
# and below host.json's functionTimeout, so a slow provider is answered with a 504 by the gateway.
MAX_CONNECT_TIMEOUT_SECONDS = 30
MAX_READ_TIMEOUT_SECONDS = 180


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its name, default (None: optional, no default) and meaning."""

    name: str
    default: str | None
    description: str
    required_in_production: bool = False


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("GATEWAY_ENVIRONMENT", "production",
                "`development` allows http and loopback providers and a local base URL; "
                "`production` (the default) refuses them."),
    SettingSpec("PUBLIC_BASE_URL", None,
                "Public https base URL of the app (no trailing slash). Advertised URLs are built "
                "from it, never from the Host header. Required in production; "
                f"`{LOCAL_BASE_URL}` in development.", required_in_production=True),
    SettingSpec("FHIR_VERSION", "STU3", "FHIR version advertised by the gateway: DSTU2, STU3 or R4."),
    SettingSpec("TOKEN_LIFETIME_SECONDS", "3600", "Lifetime of issued access tokens (60..86400)."),
    SettingSpec("TOKEN_AUDIENCE", None, "`aud` of issued tokens; defaults to the FHIR base URL."),
    SettingSpec("TABLES_CONNECTION_STRING", None,
                "Table Storage connection string (Azurite locally). Takes precedence over TABLES_ENDPOINT."),
    SettingSpec("TABLES_ENDPOINT", None,
                "Table Storage endpoint for managed-identity access, e.g. https://<account>.table.core.windows.net."),
    SettingSpec("TABLE_NAME_PREFIX", "gw", "Prefix of the gateway's table names (letters and digits)."),
    SettingSpec("KEY_VAULT_URL", None, "Key Vault URL, e.g. https://<vault>.vault.azure.net/.",
                required_in_production=True),
    SettingSpec("KEY_VAULT_CA_BUNDLE", None,
                "PEM file trusted for the Key Vault TLS connection (the local emulator's certificate)."),
    SettingSpec("KEY_VAULT_VERIFY_CHALLENGE_RESOURCE", "true",
                "Check that Key Vault's auth challenge names a vault.azure.net resource; false only for the emulator."),
    SettingSpec("KEY_VAULT_CREDENTIAL", "managed-identity",
                "`managed-identity` (azure-identity; AZURE_CLIENT_ID picks a user-assigned identity) or "
                "`emulator` (a fixed development token for the local Key Vault emulator; refused in production)."),
    SettingSpec("KEY_VAULT_SECRET_PREFIX", "gw", "Prefix of the gateway's Key Vault secret names."),
    SettingSpec("AZURE_CLIENT_ID", None, "Client id of the user-assigned managed identity (Azure only)."),
    SettingSpec("CLIENT_CACHE_SECONDS", "60",
                "How long a worker trusts a cached client record and secret verifier (revocation delay)."),
    SettingSpec("ROUTE_CACHE_SECONDS", "30", "How long a worker trusts a cached tenant route."),
    SettingSpec("STALE_IF_ERROR_SECONDS", "3600",
                "How long a cached entry keeps serving while its store is unreachable."),
    SettingSpec("SIGNING_KEY_CACHE_SECONDS", "300", "How long a worker trusts its cached signing key set."),
    SettingSpec("CLIENT_SECRET_LIFETIME_DAYS", "180", "Lifetime of newly created client secrets."),
    SettingSpec("AUTH_FAILURE_LIMIT", "10",
                "Failed token requests allowed per client id and source address in the window, across all instances "
                "(counted in Table Storage; per worker while it is unreachable)."),
    SettingSpec("AUTH_FAILURE_LIMIT_PER_ADDRESS", "50",
                "Failed token requests allowed per source address (any client id) in the window, "
                "across all instances."),
    SettingSpec("AUTH_FAILURE_WINDOW_SECONDS", "60", "Window and lock-out time of the failure limits."),
    SettingSpec("CLIENT_ASSERTION_ALLOW_SHA256", "false",
                "Also accept RS256 and ES256 `private_key_jwt` client assertions (RS384 and ES384 always; "
                "`none` and HMAC never)."),
    SettingSpec("JWKS_FETCH_TIMEOUT_SECONDS", "5",
                "Longest fetch of a client's JWKS URL, connection to last byte (1..30)."),
    SettingSpec("JWKS_MAX_BYTES", "65536", "Largest JWKS a client's JWKS URL may answer (1024..1048576 bytes)."),
    SettingSpec("JWKS_DEFAULT_CACHE_SECONDS", "900",
                "How long a fetched JWKS is kept when its response has no caching headers (60..86400; with "
                "caching headers: their freshness, between a minute and a day)."),
    SettingSpec("ADMIN_AUTH_AUTHORITY", None,
                "Entra ID authority whose access tokens the admin API accepts, "
                "`https://login.microsoftonline.com/<tenant id>/v2.0`; its discovery document names the issuer "
                "and signing keys. Set together with ADMIN_AUTH_AUDIENCE and ADMIN_REQUIRED_ROLE; "
                "unset: function key only."),
    SettingSpec("ADMIN_AUTH_AUDIENCE", None,
                "`aud` the admin API's Entra access tokens must carry: the app registration's client id "
                "(what v2 tokens carry) or its App ID URI."),
    SettingSpec("ADMIN_REQUIRED_ROLE", None,
                "Entra ID app role (in the verified token's `roles` claim) required on the admin API, "
                "e.g. `Gateway.Admin`."),
    SettingSpec("PROXY_CONNECT_TIMEOUT_SECONDS", "5", "Default provider connect timeout (1..30)."),
    SettingSpec("PROXY_READ_TIMEOUT_SECONDS", "30",
                "Default provider read timeout (1..180: with the connect timeout it stays below Azure's 230 s "
                "HTTP limit and host.json's functionTimeout, so a slow provider always gets a 504, never a kill)."),
    SettingSpec("PROXY_MAX_RESPONSE_BYTES", "33554432", "Largest provider response body accepted (decoded)."),
    SettingSpec("MAX_REQUEST_BODY_BYTES", "4194304", "Largest request body accepted by the proxy and admin API."),
    SettingSpec("STORE_TIMEOUT_SECONDS", "8",
                "Longest an admin or token request waits for Table Storage and Key Vault (0.1..60 s): then 503 with "
                "Retry-After, and anything it started is undone. Keep it below 10 s."),
    SettingSpec("STORE_READ_TIMEOUT_SECONDS", "4",
                "Bound of each Table Storage or Key Vault read (0.1..60 s): a request that misses the caches gets "
                "its 503 after this when a store hangs, instead of the SDK's timeouts and retry."),
    SettingSpec("PROVIDER_JWKS_MAX_AGE_SECONDS", "300",
                "`Cache-Control: max-age` of `/oauth2/provider-jwks` (1..3600). A rotated provider key signs "
                "only once it has been published longer than this plus the worker cache and a clock margin "
                "(docs/tokens.md, \"Keys the gateway signs with\")."),
)

_SPECS = {spec.name: spec for spec in SETTINGS}


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: expected a value between {low} and {high}, got {value}")
    return value


def _seconds(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if not low <= value <= high:  # also refuses nan
        raise SettingsError(f"{name}: expected a value between {low:g} and {high:g}, got {raw.strip()}")
    return value


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _choice(name: str, raw: str, choices: tuple[str, ...], *, upper: bool = False) -> str:
    value = raw.strip().upper() if upper else raw.strip().lower()
    if value not in choices:
        raise SettingsError(f"{name}: expected one of {', '.join(choices)}, got {raw!r}")
    return value


def _url(name: str, raw: str, *, https_only: bool) -> str:
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("https",) + (() if https_only else ("http",)) or not parts.hostname:
        need = "an https URL" if https_only else "an http(s) URL"
        raise SettingsError(f"{name}: expected {need}, got {raw!r}")
    if parts.query or parts.fragment:
        raise SettingsError(f"{name}: must not carry a query or fragment")
    return value


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
# Multi-tenant authorities publish a templated issuer ("{tenantid}"): they would accept every tenant.
MULTI_TENANT_AUTHORITIES = ("common", "organizations", "consumers")


def _admin_auth(authority: str | None, audience: str | None, role: str | None, *,
                production: bool) -> tuple[str | None, str | None, str | None]:
    """The three admin Entra ID settings: all set or none (a role alone would be read from nowhere trusted)."""
    given = {"ADMIN_AUTH_AUTHORITY": authority, "ADMIN_AUTH_AUDIENCE": audience, "ADMIN_REQUIRED_ROLE": role}
    missing = [name for name, value in given.items() if not value]
    if len(missing) == 3:
        return None, None, None
    if missing:
        have = ", ".join(name for name in given if name not in missing)
        raise SettingsError(f"{missing[0]}: required with {have} (the admin API verifies Entra ID tokens itself "
                            "and reads no principal header: set ADMIN_AUTH_AUTHORITY, ADMIN_AUTH_AUDIENCE and "
                            "ADMIN_REQUIRED_ROLE together, or none of them)")
    assert authority and audience and role
    value = authority.strip().rstrip("/")
    parts = urlsplit(value)
    loopback_http = not production and parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if not (parts.scheme == "https" or loopback_http) or not parts.hostname:
        allowed = "an https URL" if production else "an https URL (or an http loopback URL in development)"
        raise SettingsError(f"ADMIN_AUTH_AUTHORITY: expected {allowed}, got {authority!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise SettingsError("ADMIN_AUTH_AUTHORITY: must not carry credentials, a query or a fragment")
    segments = [s.lower() for s in parts.path.split("/") if s]
    if not segments or segments[0] in MULTI_TENANT_AUTHORITIES:
        raise SettingsError("ADMIN_AUTH_AUTHORITY: name one tenant "
                            "(https://login.microsoftonline.com/<tenant id>/v2.0), not common/organizations")
    for name, text_value in (("ADMIN_AUTH_AUDIENCE", audience), ("ADMIN_REQUIRED_ROLE", role)):
        if len(text_value) > 256 or not text_value.isprintable() or " " in text_value:
            raise SettingsError(f"{name}: expected up to 256 printable characters without spaces")
    return value, audience, role


@dataclass(frozen=True)
class Settings:
    """Validated, immutable settings. Build with :meth:`from_mapping`."""

    environment: Environment
    public_base_url: str
    fhir_version: FhirVersion
    token_lifetime_seconds: int
    token_audience: str
    tables_connection_string: str | None
    tables_endpoint: str | None
    table_name_prefix: str
    key_vault_url: str | None
    key_vault_ca_bundle: str | None
    key_vault_verify_challenge_resource: bool
    key_vault_credential: str
    key_vault_secret_prefix: str
    azure_client_id: str | None
    client_cache_seconds: int
    route_cache_seconds: int
    stale_if_error_seconds: int
    signing_key_cache_seconds: int
    client_secret_lifetime_days: int
    auth_failure_limit: int
    auth_failure_limit_per_address: int
    auth_failure_window_seconds: int
    client_assertion_allow_sha256: bool
    jwks_fetch_timeout_seconds: int
    jwks_max_bytes: int
    jwks_default_cache_seconds: int
    admin_auth_authority: str | None
    admin_auth_audience: str | None
    admin_required_role: str | None
    proxy_connect_timeout_seconds: int
    proxy_read_timeout_seconds: int
    proxy_max_response_bytes: int
    max_request_body_bytes: int
    store_timeout_seconds: float
    store_read_timeout_seconds: float
    provider_jwks_max_age_seconds: int = 300

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def admin_entra_auth(self) -> bool:
        """Whether admin requests need an Entra ID access token (all three ADMIN_AUTH settings are set)."""
        return self.admin_auth_audience is not None

    @property
    def fhir_base_url(self) -> str:
        """The gateway's FHIR base, as advertised to clients."""
        return f"{self.public_base_url}/fhir"

    @property
    def token_url(self) -> str:
        return f"{self.public_base_url}/oauth2/token"

    @property
    def issuer(self) -> str:
        """``iss`` of issued tokens (RFC 9068 §2.2): the public base URL."""
        return self.public_base_url

    @classmethod
    def from_environ(cls) -> Settings:
        return cls.from_mapping(os.environ)

    @classmethod
    def from_mapping(cls, source: Mapping[str, str]) -> Settings:
        """Read and validate every setting from ``source``; raise SettingsError on the first bad one."""

        def raw(name: str) -> str | None:
            value = source.get(name)
            if value is None or not str(value).strip():
                return _SPECS[name].default
            return str(value)

        def text(name: str) -> str | None:
            value = raw(name)
            return value.strip() if value is not None else None

        environment = _choice("GATEWAY_ENVIRONMENT", raw("GATEWAY_ENVIRONMENT") or "", ENVIRONMENTS)
        production = environment == "production"

        base = raw("PUBLIC_BASE_URL")
        if base is None:
            if production:
                raise SettingsError("PUBLIC_BASE_URL: required in production (the https base URL clients use)")
            base = LOCAL_BASE_URL
        public_base_url = _url("PUBLIC_BASE_URL", base, https_only=production)

        fhir_version = _choice("FHIR_VERSION", raw("FHIR_VERSION") or "", FHIR_VERSIONS, upper=True)

        connection_string = text("TABLES_CONNECTION_STRING")
        tables_endpoint = text("TABLES_ENDPOINT")
        if tables_endpoint:
            tables_endpoint = _url("TABLES_ENDPOINT", tables_endpoint, https_only=production)
        if production and not (connection_string or tables_endpoint):
            raise SettingsError("TABLES_ENDPOINT: required in production (or TABLES_CONNECTION_STRING)")

        key_vault_url = text("KEY_VAULT_URL")
        if key_vault_url:
            key_vault_url = _url("KEY_VAULT_URL", key_vault_url, https_only=True)
        elif production:
            raise SettingsError("KEY_VAULT_URL: required in production")

        prefix = text("TABLE_NAME_PREFIX") or ""
        if not (prefix.isascii() and prefix.isalnum() and prefix[:1].isalpha() and len(prefix) <= 20):
            raise SettingsError(
                f"TABLE_NAME_PREFIX: expected up to 20 letters and digits starting with a letter, got {prefix!r}")
        secret_prefix = text("KEY_VAULT_SECRET_PREFIX") or ""
        if not (secret_prefix.replace("-", "").isascii() and secret_prefix.replace("-", "").isalnum()
                and secret_prefix[:1].isalpha() and len(secret_prefix) <= 20):
            raise SettingsError(
                f"KEY_VAULT_SECRET_PREFIX: expected up to 20 letters, digits and hyphens, got {secret_prefix!r}")

        credential = _choice("KEY_VAULT_CREDENTIAL", raw("KEY_VAULT_CREDENTIAL") or "",
                             ("managed-identity", "emulator"))
        if production and credential == "emulator":
            raise SettingsError("KEY_VAULT_CREDENTIAL: `emulator` is for development only")

        def integer(name: str, low: int, high: int) -> int:
            return _int(name, raw(name) or "", low, high)

        fhir_base_url = f"{public_base_url}/fhir"
        audience = text("TOKEN_AUDIENCE") or fhir_base_url
        admin_authority, admin_audience, admin_role = _admin_auth(
            text("ADMIN_AUTH_AUTHORITY"), text("ADMIN_AUTH_AUDIENCE"), text("ADMIN_REQUIRED_ROLE"),
            production=production)

        return cls(
            environment=environment,  # type: ignore[arg-type]
            public_base_url=public_base_url,
            fhir_version=fhir_version,  # type: ignore[arg-type]
            token_lifetime_seconds=integer("TOKEN_LIFETIME_SECONDS", 60, 86400),
            token_audience=audience,
            tables_connection_string=connection_string,
            tables_endpoint=tables_endpoint,
            table_name_prefix=prefix,
            key_vault_url=key_vault_url,
            key_vault_ca_bundle=text("KEY_VAULT_CA_BUNDLE"),
            key_vault_verify_challenge_resource=_bool(
                "KEY_VAULT_VERIFY_CHALLENGE_RESOURCE", raw("KEY_VAULT_VERIFY_CHALLENGE_RESOURCE") or ""),
            key_vault_credential=credential,
            key_vault_secret_prefix=secret_prefix,
            azure_client_id=text("AZURE_CLIENT_ID"),
            client_cache_seconds=integer("CLIENT_CACHE_SECONDS", 0, 300),
            route_cache_seconds=integer("ROUTE_CACHE_SECONDS", 0, 300),
            stale_if_error_seconds=integer("STALE_IF_ERROR_SECONDS", 0, 86400),
            signing_key_cache_seconds=integer("SIGNING_KEY_CACHE_SECONDS", 0, 3600),
            client_secret_lifetime_days=integer("CLIENT_SECRET_LIFETIME_DAYS", 1, 730),
            auth_failure_limit=integer("AUTH_FAILURE_LIMIT", 1, 10000),
            auth_failure_limit_per_address=integer("AUTH_FAILURE_LIMIT_PER_ADDRESS", 1, 100000),
            auth_failure_window_seconds=integer("AUTH_FAILURE_WINDOW_SECONDS", 1, 86400),
            client_assertion_allow_sha256=_bool("CLIENT_ASSERTION_ALLOW_SHA256",
                                                raw("CLIENT_ASSERTION_ALLOW_SHA256") or ""),
            jwks_fetch_timeout_seconds=integer("JWKS_FETCH_TIMEOUT_SECONDS", 1, 30),
            jwks_max_bytes=integer("JWKS_MAX_BYTES", 1024, 1 << 20),
            jwks_default_cache_seconds=integer("JWKS_DEFAULT_CACHE_SECONDS", 60, 86400),
            admin_auth_authority=admin_authority,
            admin_auth_audience=admin_audience,
            admin_required_role=admin_role,
            proxy_connect_timeout_seconds=integer("PROXY_CONNECT_TIMEOUT_SECONDS", 1, MAX_CONNECT_TIMEOUT_SECONDS),
            proxy_read_timeout_seconds=integer("PROXY_READ_TIMEOUT_SECONDS", 1, MAX_READ_TIMEOUT_SECONDS),
            proxy_max_response_bytes=integer("PROXY_MAX_RESPONSE_BYTES", 1024, 1 << 30),
            max_request_body_bytes=integer("MAX_REQUEST_BODY_BYTES", 1024, 100 << 20),
            store_timeout_seconds=_seconds("STORE_TIMEOUT_SECONDS", raw("STORE_TIMEOUT_SECONDS") or "", 0.1, 60),
            store_read_timeout_seconds=_seconds("STORE_READ_TIMEOUT_SECONDS", raw("STORE_READ_TIMEOUT_SECONDS") or "",
                                                0.1, 60),
            provider_jwks_max_age_seconds=integer("PROVIDER_JWKS_MAX_AGE_SECONDS", 1, 3600),
        )


_cached: Settings | None = None


def current_settings(loader: Callable[[], Settings] = Settings.from_environ) -> Settings:
    """Settings of this worker, read from the environment once."""
    global _cached
    if _cached is None:
        _cached = loader()
    return _cached


def reset_current_settings() -> None:
    """Forget the worker's settings (tests and the local host's reload)."""
    global _cached
    _cached = None



TELEMETRY_CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"


def telemetry_connection_string() -> str | None:
    """The platform's Application Insights connection string, when telemetry is to be exported.

    A setting of the platform, not of the gateway (the template writes it, the exporter reads its
    companion ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` itself); read here so that this module
    stays the one reader of the environment.
    """
    value = os.environ.get(TELEMETRY_CONNECTION_STRING, "").strip()
    return value or None
