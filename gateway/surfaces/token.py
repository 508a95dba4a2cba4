"""token_fn (route ``oauth2/{endpoint}``): the OAuth endpoints (``gateway.oauth.endpoint``, loaded with the
worker's services on the first request that needs them) behind the entry adapter; the authorize stub answered
without stores; failures outside the endpoints answered as RFC 6749 §5.2 errors."""

from __future__ import annotations

from gateway.config import Settings
from gateway.entry import Surface
from gateway.failure import Failure
from gateway.http import Request, Response
from gateway.oauth.authorize import authorize_endpoint
from gateway.oauth.errors import ServerError, ServiceUnavailable
from gateway.services import Services


async def _respond(request: Request, services: Services, deadline: float) -> Response:
    return await services.oauth_endpoints.respond(request)


def answer_early(request: Request, settings: Settings) -> Response | None:
    """The authorize stub needs no stores."""
    return authorize_endpoint(request) if request.route_params.get("endpoint") == "authorize" else None


def render_failure(failure: Failure, request: Request, settings: Settings | None) -> Response:
    """Start-up and store failures as RFC 6749 §5.2-shaped errors: 503 ``temporarily_unavailable`` with
    ``Retry-After``, or 500 ``server_error``."""
    return (ServiceUnavailable() if failure is Failure.UNAVAILABLE else ServerError()).response()


handle = Surface("token", _respond, render_failure, answer_early=answer_early, bounded=True)
"""token_fn's entry point. Bounded: a store that accepts connections but never answers gets the caller a 503
within STORE_TIMEOUT_SECONDS, a cold worker opening its stores included (each read has its own, shorter bound)."""
