"""Which token the gateway's managed identity may obtain for a route: one for the provider itself.

The app's identity holds Key Vault and Storage roles. A route whose managed-identity scope named another
resource (``https://vault.azure.net/.default``) would have the gateway fetch a token for that resource and
hand it to the provider. So the scope of a ``managedIdentity`` route is the provider's origin in the
Azure Health Data Services form, ``<scheme>://<host>[:port]/.default``: derived from ``fhirBaseUrl`` when
absent, and when given it must name that same origin (compared normalised: scheme and host lowercase,
the scheme's default port elided). The provider's own host must not be one of the Azure services whose
data-plane tokens the identity could use against the gateway (Key Vault, Storage, Resource Manager,
Microsoft Graph), whatever the scope says.

Checked when a route is saved (admin API, 422 naming the field) and again before every token request
(the managed-identity kind of ``gateway.upstream``), so a route stored before this rule never obtains such a token.
Standard library only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_SUFFIX = "/.default"
_DEFAULT_PORTS = {"https": 443, "http": 80}

# Azure resources a managed identity typically holds roles on (all clouds). A provider never lives there.
IDENTITY_RESOURCE_DOMAINS = (
    "vault.azure.net", "vault.azure.cn", "vault.usgovcloudapi.net", "managedhsm.azure.net",
    "core.windows.net", "core.chinacloudapi.cn", "core.usgovcloudapi.net",
    "management.azure.com", "management.core.windows.net", "management.chinacloudapi.cn",
    "management.usgovcloudapi.net", "graph.microsoft.com", "graph.microsoft.us", "microsoftgraph.chinacloudapi.cn",
)


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, normalised; None when ``url`` has no such origin."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except (ValueError, AttributeError):
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def provider_scope(fhir_base_url: str) -> str | None:
    """The one scope a managed identity may request for this provider: ``<origin>/.default``."""
    origin = origin_of(fhir_base_url)
    return None if origin is None else origin + DEFAULT_SUFFIX


def _host(origin: str) -> str:
    return urlsplit(origin).hostname or ""


def scope_problem(fhir_base_url: str, scope: str | None) -> tuple[str, str] | None:
    """``(field, message)`` when a managed-identity token with ``scope`` must not be obtained for this route.

    ``field`` is ``fhirBaseUrl`` or ``upstreamAuth/scope`` (admin API field names). Messages name the rule,
    never a value.
    """
    origin = origin_of(fhir_base_url)
    if origin is None:
        return "fhirBaseUrl", "must be an http(s) URL for a managed-identity route"
    host = _host(origin)
    if any(host == domain or host.endswith("." + domain) for domain in IDENTITY_RESOURCE_DOMAINS):
        return ("fhirBaseUrl", "must not be an Azure Key Vault, Storage, Resource Manager or Graph host: the "
                               "gateway's managed identity holds roles there")
    if scope is None:
        return None
    text = scope.strip()
    if not text.endswith(DEFAULT_SUFFIX) or text.count(DEFAULT_SUFFIX) != 1:
        return "upstreamAuth/scope", "must be the provider's origin followed by /.default (or be left out)"
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.query or parts.fragment or parts.path != DEFAULT_SUFFIX \
            or origin_of(text[: -len(DEFAULT_SUFFIX)]) != origin:
        return ("upstreamAuth/scope", "must name the provider's own origin (<scheme>://<host>[:port]/.default "
                                      "of fhirBaseUrl), or be left out to derive it")
    return None


def token_scope(fhir_base_url: str) -> str:
    """The scope to request for a route that passed :func:`scope_problem`: its normalised ``<origin>/.default``
    (whatever spelling of it the route stored)."""
    derived = provider_scope(fhir_base_url)
    if derived is None:  # pragma: no cover - scope_problem refuses such a route first
        raise ValueError("no provider origin")
    return derived
