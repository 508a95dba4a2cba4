"""What the proxy decided about a request, named once: the ``outcome`` of its access log line and of its
telemetry (``gateway.outcome`` on the request, ``outcome`` on ``gateway.proxy.requests``; docs/operations.md).

``forwarded``: the provider answered and its answer was passed on, whatever its status (a provider's own
503 is ``forwarded`` with status 503). Every other outcome is an answer the gateway gave itself, before
the provider was asked (refusals) or because the provider gave no usable answer (``provider-…``).
"""

from __future__ import annotations

from gateway.outbound.errors import UpstreamError, UpstreamGarbage, UpstreamUnreachable

FORWARDED = "forwarded"

# refused before the provider is asked (docs/proxy.md, order of the checks)
METHOD_NOT_ALLOWED = "method-not-allowed"
NO_TOKEN = "no-token"
INVALID_TOKEN = "invalid-token"
STORE_UNAVAILABLE = "store-unavailable"
CLIENT_DISABLED = "client-disabled"
TENANT_NOT_ALLOWED = "tenant-not-allowed"
NO_ROUTE = "no-route"
ROUTE_DISABLED = "route-disabled"
BODY_TOO_LARGE = "body-too-large"
BAD_PATH = "bad-path"
PROVIDER_URL_REFUSED = "provider-url-refused"
BAD_BATCH = "bad-batch"
READ_ONLY = "read-only"
OUTSIDE_SCOPES = "outside-scopes"
BATCH_TOO_LARGE = "batch-too-large"

# the provider could not be asked, or gave no usable answer
PROVIDER_AUTH_FAILED = "provider-auth-failed"
PROVIDER_REFUSED_CREDENTIALS = "provider-refused-credentials"
PROVIDER_TIMEOUT = "provider-timeout"
PROVIDER_TOO_LARGE = "provider-too-large"
PROVIDER_ADDRESS_REFUSED = "provider-address-refused"

INTERNAL_ERROR = "internal-error"


def provider_failure(error: type[UpstreamError]) -> str:
    """Any other failed provider call, by its kind: ``provider-<error class>``."""
    return f"provider-{error.__name__}"


PROVIDER_UNREACHABLE = provider_failure(UpstreamUnreachable)
PROVIDER_GARBAGE = provider_failure(UpstreamGarbage)
