"""A request handed to the part of the services that answers it, as each function's surface does
(``gateway.surfaces``): the tests call the gateway the way its functions do, on services they built."""

from __future__ import annotations

from typing import Any

from gateway.http import Request, Response
from gateway.services import Services


async def proxy(request: Request, services: Services) -> Response:
    """fhir_proxy_fn: the FHIR proxy."""
    return await services.fhir_proxy.handle(request)


async def respond(request: Request, services: Services) -> Response:
    """token_fn: the OAuth endpoints (token, JWKS, provider JWKS, authorize)."""
    return await services.oauth_endpoints.respond(request)


async def token_endpoint(request: Request, services: Services) -> Response:
    """token_fn's ``/oauth2/token`` alone."""
    return await services.token_endpoint.handle(request)


async def dispatch(request: Request, services: Services, **kwargs: Any) -> Response:
    """admin_fn: the admin API (``deadline=`` as the entry adapter passes it)."""
    return await services.admin_endpoint.dispatch(request, **kwargs)
