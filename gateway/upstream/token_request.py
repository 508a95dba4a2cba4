"""The token request a kind sends to a provider's token endpoint: the client credentials grant (RFC 6749 §4.4.2)
as a form POST, and the access token read from its answer (§5.1).

The token URL is the route's saved ``tokenUrl``; it passes the provider URL rules again before anything is
sent or signed (a route written to the table some other way must not make the gateway call a forbidden
address). An answer that is not 200 with a string ``access_token`` is a refusal; an ``expires_in`` that is
absent or not finite counts as five minutes. The message of every failure is safe to show; the secret and
the provider's answer are never in it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from gateway.config import Settings
from gateway.outbound.destinations import validate_provider_url
from gateway.outbound.transport import UpstreamError, UpstreamRequest
from gateway.stores.models import Route
from gateway.upstream.kind import FetchContext, FieldProblem, ProviderToken, UpstreamAuthError, token_lifetime

logger = logging.getLogger("gateway.upstream")

GRANT_TYPE = "client_credentials"
MAX_RESPONSE_BYTES = 64 * 1024


def token_url_problems(token_url: str, *, private_network: bool, settings: Settings) -> list[FieldProblem]:
    """A token URL follows the provider URL rules (the admin's 422, messages naming the token URL)."""
    return [("upstreamAuth/tokenUrl", problem.replace("provider URL", "token URL"))
            for problem in validate_provider_url(token_url, settings, private_network)]


def check_token_url(token_url: str, route: Route, context: FetchContext) -> None:
    """Refuse a token URL the provider URL rules do not allow (before signing or reading any secret)."""
    if validate_provider_url(token_url, context.settings, route.private_network):
        raise UpstreamAuthError("The provider's token endpoint is not an allowed URL.")


async def request_token(token_url: str, route: Route, context: FetchContext, *, scope: str | None,
                        form: Mapping[str, str] | None = None, headers: Sequence[tuple[str, str]] = ()
                        ) -> ProviderToken:
    """POST the client credentials grant for ``scope`` (with ``form``'s other parameters) to ``token_url`` with
    the route's timeouts and read the token (RFC 6749 §4.4.2, §5.1)."""
    settings = context.settings
    fields = {"grant_type": GRANT_TYPE, **(form or {})}
    if scope:
        fields["scope"] = scope
    request = UpstreamRequest(
        method="POST", url=token_url,
        headers=[*headers, ("Accept", "application/json"), ("Content-Type", "application/x-www-form-urlencoded")],
        body=urlencode(fields).encode("ascii"),
        connect_timeout=route.connect_timeout_seconds or settings.proxy_connect_timeout_seconds,
        read_timeout=route.read_timeout_seconds or settings.proxy_read_timeout_seconds,
        private_network=route.private_network, max_response_bytes=MAX_RESPONSE_BYTES)
    started = time.monotonic()
    try:
        response = await context.transport.send(request)
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
    return ProviderToken(value, started + token_lifetime(expires_in))
