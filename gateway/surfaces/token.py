"""token_fn (route ``oauth2/{endpoint}``): the OAuth endpoints (``gateway.oauth.endpoint``) behind the entry
adapter, failures outside them answered as RFC 6749 §5.2 errors."""

from __future__ import annotations

from gateway.entry import Surface
from gateway.http import Request, Response
from gateway.oauth.endpoint import answer_early, render_failure
from gateway.services import Services


async def _respond(request: Request, services: Services, deadline: float) -> Response:
    return await services.oauth_endpoints.respond(request)


handle = Surface("token", _respond, render_failure, answer_early=answer_early, bounded=True)
"""token_fn's entry point. Bounded: a store that accepts connections but never answers gets the caller a 503
within STORE_TIMEOUT_SECONDS, a cold worker opening its stores included (each read has its own, shorter bound)."""
