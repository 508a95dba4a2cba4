"""Settings of the gateway, read once from a mapping and validated.

Every setting the application reads is declared once in ``SETTINGS`` below:
its name, default, parser (with its bounds or choices) and meaning. The Bicep
app settings, ``local.settings.sample.json`` and the README's configuration
reference are checked against this table by tests.

``Settings.from_mapping`` takes any mapping (``os.environ`` in the Functions
worker, a plain ``dict`` in tests), parses each declared setting in turn, then
applies the rules that span several settings (production requirements, the
admin Entra ID trio). It raises :class:`SettingsError` naming the setting and
what is wrong with it, so a misconfigured app fails at start.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

FhirVersion = Literal["DSTU2", "STU3", "R4"]
Environment = Literal["development", "production"]

FHIR_VERSIONS: tuple[FhirVersion, ...] = ("DSTU2", "STU3", "R4")
DEFAULT_FHIR_VERSION: FhirVersion = "STU3"
"""``FHIR_VERSION`` when unset: the version of the gateway's own ``/fhir`` base."""
ENVIRONMENTS: tuple[Environment, ...] = ("development", "production")
KEY_VAULT_CREDENTIALS = ("managed-identity", "emulator")
LOCAL_BASE_URL = "http://localhost:7071"
# Provider timeouts (settings and per-route values) stay below Azure's 230 s HTTP limit together,
# and below host.json's functionTimeout, so a slow provider is answered with a 504 by the gateway.
MAX_CONNECT_TIMEOUT_SECONDS = 30
MAX_READ_TIMEOUT_SECONDS = 180


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it first (``NAME: why``)."""

    @property
    def setting(self) -> str:
        """The setting's name alone (for logs: the message may quote the value)."""
        return str(self).split(":", 1)[0]


# A parser turns the raw (non-blank) text of a setting into its value: (its declaration, text, production?).
Parser = Callable[["SettingSpec", str, bool], Any]


def _text(spec: SettingSpec, raw: str, production: bool) -> str:
    return raw.strip()


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its name, default (None: optional, no default), meaning and how its text is parsed."""

    name: str
    default: str | None
    description: str
    required_in_production: bool = False
    parse: Parser = _text
    bounds: tuple[float, float] | None = None  # inclusive, for numbers
    choices: tuple[str, ...] = ()
    field: str = ""  # the Settings attribute; empty: the name in lower case
    development_default: str | None = None  # the default in development, when it has none in production
    required_because: str = ""  # said when a setting required in production is missing

    @property
    def attribute(self) -> str:
        return self.field or self.name.lower()

    def read(self, source: Mapping[str, str], production: bool) -> Any:
        """This setting's value in ``source``: blank or absent means the default (None when it has none)."""
        value = source.get(self.name)
        raw = str(value) if value is not None and str(value).strip() else self.default
        if raw is None and production and self.required_in_production:
            because = f" ({self.required_because})" if self.required_because else ""
            raise SettingsError(f"{self.name}: required in production{because}")
        if raw is None and not production:
            raw = self.development_default
        return None if raw is None else self.parse(self, raw, production)


# --------------------------------------------------------------------------- parsers

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


def _parse_int(spec: SettingSpec, raw: str, production: bool) -> int:
    assert spec.bounds is not None
    low, high = spec.bounds
    return _int(spec.name, raw, int(low), int(high))


def _parse_seconds(spec: SettingSpec, raw: str, production: bool) -> float:
    assert spec.bounds is not None
    return _seconds(spec.name, raw, *spec.bounds)


def _parse_bool(spec: SettingSpec, raw: str, production: bool) -> bool:
    return _bool(spec.name, raw)


def _parse_choice(spec: SettingSpec, raw: str, production: bool) -> str:
    return _choice(spec.name, raw, spec.choices)


def _parse_upper_choice(spec: SettingSpec, raw: str, production: bool) -> str:
    return _choice(spec.name, raw, spec.choices, upper=True)


def _parse_url(spec: SettingSpec, raw: str, production: bool) -> str:
    """An http(s) URL without query or fragment, trailing slash dropped; https only in production."""
    return _url(spec.name, raw, https_only=production)


def _parse_https_url(spec: SettingSpec, raw: str, production: bool) -> str:
    return _url(spec.name, raw, https_only=True)


def _parse_table_prefix(spec: SettingSpec, raw: str, production: bool) -> str:
    prefix = raw.strip()
    if not (prefix.isascii() and prefix.isalnum() and prefix[:1].isalpha() and len(prefix) <= 20):
        raise SettingsError(
            f"{spec.name}: expected up to 20 letters and digits starting with a letter, got {prefix!r}")
    return prefix


def _parse_secret_prefix(spec: SettingSpec, raw: str, production: bool) -> str:
    prefix = raw.strip()
    bare = prefix.replace("-", "")
    if not (bare.isascii() and bare.isalnum() and prefix[:1].isalpha() and len(prefix) <= 20):
        raise SettingsError(f"{spec.name}: expected up to 20 letters, digits and hyphens, got {prefix!r}")
    return prefix


# --------------------------------------------------------------------------- declarations

def text(name: str, description: str, *, default: str | None = None, parse: Parser = _text,
         required_in_production: bool = False, required_because: str = "",
         development_default: str | None = None) -> SettingSpec:
    """A text setting (stripped), or one with its own parser."""
    return SettingSpec(name, default, description, required_in_production, parse,
                       development_default=development_default, required_because=required_because)


def integer(name: str, low: int, high: int, *, default: str, description: str) -> SettingSpec:
    """An integer setting accepted between ``low`` and ``high`` inclusive."""
    return SettingSpec(name, default, description, parse=_parse_int, bounds=(low, high))


def seconds(name: str, low: float, high: float, *, default: str, description: str) -> SettingSpec:
    """A duration in (fractional) seconds accepted between ``low`` and ``high`` inclusive."""
    return SettingSpec(name, default, description, parse=_parse_seconds, bounds=(low, high))


def flag(name: str, *, default: str, description: str) -> SettingSpec:
    """A true/false setting (1/0, true/false, yes/no, on/off)."""
    return SettingSpec(name, default, description, parse=_parse_bool)


def choice(name: str, choices: tuple[str, ...], *, default: str, description: str, upper: bool = False,
           field: str = "") -> SettingSpec:
    """One of ``choices``, compared in lower case (upper case with ``upper``)."""
    return SettingSpec(name, default, description, parse=_parse_upper_choice if upper else _parse_choice,
                       choices=choices, field=field)


SETTINGS: tuple[SettingSpec, ...] = (
    choice("GATEWAY_ENVIRONMENT", ENVIRONMENTS, default="production", field="environment",
           description="`development` allows http and loopback providers and a local base URL; "
                       "`production` (the default) refuses them."),
    text("PUBLIC_BASE_URL",
         "Public https base URL of the app (no trailing slash). Advertised URLs are built "
         "from it, never from the Host header. Required in production; "
         f"`{LOCAL_BASE_URL}` in development.", parse=_parse_url,
         required_in_production=True, required_because="the https base URL clients use",
         development_default=LOCAL_BASE_URL),
    choice("FHIR_VERSION", FHIR_VERSIONS, default=DEFAULT_FHIR_VERSION, upper=True,
           description="FHIR version advertised by the gateway: DSTU2, STU3 or R4."),
    integer("TOKEN_LIFETIME_SECONDS", 60, 86400, default="3600",
            description="Lifetime of issued access tokens (60..86400)."),
    text("TOKEN_AUDIENCE", "`aud` of issued tokens; defaults to the FHIR base URL."),
    text("TABLES_CONNECTION_STRING",
         "Table Storage connection string (Azurite locally). Takes precedence over TABLES_ENDPOINT."),
    text("TABLES_ENDPOINT",
         "Table Storage endpoint for managed-identity access, e.g. https://<account>.table.core.windows.net.",
         parse=_parse_url),
    text("TABLE_NAME_PREFIX", "Prefix of the gateway's table names (letters and digits).", default="gw",
         parse=_parse_table_prefix),
    text("KEY_VAULT_URL", "Key Vault URL, e.g. https://<vault>.vault.azure.net/.", required_in_production=True,
         parse=_parse_https_url),
    text("KEY_VAULT_CA_BUNDLE",
         "PEM file trusted for the Key Vault TLS connection (the local emulator's certificate)."),
    flag("KEY_VAULT_VERIFY_CHALLENGE_RESOURCE", default="true",
         description="Check that Key Vault's auth challenge names a vault.azure.net resource; "
                     "false only for the emulator."),
    choice("KEY_VAULT_CREDENTIAL", KEY_VAULT_CREDENTIALS, default="managed-identity",
           description="`managed-identity` (azure-identity; AZURE_CLIENT_ID picks a user-assigned identity) or "
                       "`emulator` (a fixed development token for the local Key Vault emulator; refused in "
                       "production)."),
    text("KEY_VAULT_SECRET_PREFIX", "Prefix of the gateway's Key Vault secret names.", default="gw",
         parse=_parse_secret_prefix),
    text("AZURE_CLIENT_ID", "Client id of the user-assigned managed identity (Azure only)."),
    integer("CLIENT_CACHE_SECONDS", 0, 300, default="60",
            description="How long a worker trusts a cached client record and secret verifier (revocation delay)."),
    integer("ROUTE_CACHE_SECONDS", 0, 300, default="30", description="How long a worker trusts a cached tenant route."),
    integer("STALE_IF_ERROR_SECONDS", 0, 86400, default="3600",
            description="How long a cached entry keeps serving while its store is unreachable."),
    integer("SIGNING_KEY_CACHE_SECONDS", 0, 3600, default="300",
            description="How long a worker trusts its cached signing key set."),
    integer("CLIENT_SECRET_LIFETIME_DAYS", 1, 730, default="180",
            description="Lifetime of newly created client secrets."),
    integer("AUTH_FAILURE_LIMIT", 1, 10000, default="10",
            description="Failed token requests allowed per client id and source address in the window, across "
                        "all instances (counted in Table Storage; per worker while it is unreachable)."),
    integer("AUTH_FAILURE_LIMIT_PER_ADDRESS", 1, 100000, default="50",
            description="Failed token requests allowed per source address (any client id) in the window, "
                        "across all instances."),
    integer("AUTH_FAILURE_WINDOW_SECONDS", 1, 86400, default="60",
            description="Window and lock-out time of the failure limits."),
    flag("CLIENT_ASSERTION_ALLOW_SHA256", default="false",
         description="Also accept RS256 and ES256 `private_key_jwt` client assertions (RS384 and ES384 always; "
                     "`none` and HMAC never)."),
    integer("JWKS_FETCH_TIMEOUT_SECONDS", 1, 30, default="5",
            description="Longest fetch of a client's JWKS URL, connection to last byte (1..30)."),
    integer("JWKS_MAX_BYTES", 1024, 1 << 20, default="65536",
            description="Largest JWKS a client's JWKS URL may answer (1024..1048576 bytes)."),
    integer("JWKS_DEFAULT_CACHE_SECONDS", 60, 86400, default="900",
            description="How long a fetched JWKS is kept when its response has no caching headers (60..86400; "
                        "with caching headers: their freshness, between a minute and a day)."),
    text("ADMIN_AUTH_AUTHORITY",
         "Entra ID authority whose access tokens the admin API accepts, "
         "`https://login.microsoftonline.com/<tenant id>/v2.0`; its discovery document names the issuer "
         "and signing keys. Set together with ADMIN_AUTH_AUDIENCE and ADMIN_REQUIRED_ROLE; "
         "unset: function key only."),
    text("ADMIN_AUTH_AUDIENCE",
         "`aud` the admin API's Entra access tokens must carry: the app registration's client id "
         "(what v2 tokens carry) or its App ID URI."),
    text("ADMIN_REQUIRED_ROLE",
         "Entra ID app role (in the verified token's `roles` claim) required on the admin API, "
         "e.g. `Gateway.Admin`."),
    integer("PROXY_CONNECT_TIMEOUT_SECONDS", 1, MAX_CONNECT_TIMEOUT_SECONDS, default="5",
            description="Default provider connect timeout (1..30)."),
    integer("PROXY_READ_TIMEOUT_SECONDS", 1, MAX_READ_TIMEOUT_SECONDS, default="30",
            description="Default provider read timeout (1..180: with the connect timeout it stays below Azure's "
                        "230 s HTTP limit and host.json's functionTimeout, so a slow provider always gets a 504, "
                        "never a kill)."),
    integer("PROXY_MAX_RESPONSE_BYTES", 1024, 1 << 30, default="33554432",
            description="Largest provider response body accepted (decoded)."),
    integer("MAX_REQUEST_BODY_BYTES", 1024, 100 << 20, default="4194304",
            description="Largest request body accepted by the proxy and admin API."),
    seconds("STORE_TIMEOUT_SECONDS", 0.1, 60, default="8",
            description="Longest an admin or token request waits for Table Storage and Key Vault (0.1..60 s): "
                        "then 503 with Retry-After, and anything it started is undone. Keep it below 10 s."),
    seconds("STORE_READ_TIMEOUT_SECONDS", 0.1, 60, default="4",
            description="Bound of each Table Storage or Key Vault read (0.1..60 s): a request that misses the "
                        "caches gets its 503 after this when a store hangs, instead of the SDK's timeouts and "
                        "retry."),
    integer("PROVIDER_JWKS_MAX_AGE_SECONDS", 1, 3600, default="300",
            description="`Cache-Control: max-age` of `/oauth2/provider-jwks` (1..3600). A rotated provider key "
                        "signs only once it has been published longer than this plus the worker cache and a "
                        "clock margin (docs/tokens.md, \"Keys the gateway signs with\")."),
)

_SPECS = {spec.name: spec for spec in SETTINGS}


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
        production = _SPECS["GATEWAY_ENVIRONMENT"].read(source, False) == "production"
        values = {spec.attribute: spec.read(source, production) for spec in SETTINGS}
        _check_across_settings(values, production)
        return cls(**values)


def _check_across_settings(values: dict[str, Any], production: bool) -> None:
    """The rules that span settings, applied to the parsed ``values`` (completed in place)."""
    if production and not (values["tables_connection_string"] or values["tables_endpoint"]):
        raise SettingsError("TABLES_ENDPOINT: required in production (or TABLES_CONNECTION_STRING)")
    if production and values["key_vault_credential"] == "emulator":
        raise SettingsError("KEY_VAULT_CREDENTIAL: `emulator` is for development only")
    values["token_audience"] = values["token_audience"] or f"{values['public_base_url']}/fhir"
    admin = ("admin_auth_authority", "admin_auth_audience", "admin_required_role")
    values.update(zip(admin, _admin_auth(*(values[name] for name in admin), production=production), strict=True))


_cached: Settings | None = None


def current_settings(loader: Callable[[], Settings] = Settings.from_environ) -> Settings:
    """Settings of this worker, read from the environment once."""
    global _cached
    if _cached is None:
        _cached = loader()
    return _cached


TELEMETRY_CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"


def telemetry_connection_string() -> str | None:
    """The platform's Application Insights connection string, when telemetry is to be exported.

    A setting of the platform, not of the gateway (the template writes it, the exporter reads its
    companion ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` itself); read here so that this module
    stays the one reader of the environment.
    """
    value = os.environ.get(TELEMETRY_CONNECTION_STRING, "").strip()
    return value or None
