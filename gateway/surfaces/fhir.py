"""fhir_proxy_fn (route ``fhir/{*path}``): the proxy (``gateway.proxy.forward``) behind the entry adapter,
failures outside it answered as OperationOutcome."""

from __future__ import annotations

from gateway.entry import Surface
from gateway.fhir.outcome import failure_outcome
from gateway.http import Request, Response
from gateway.services import Services


async def _respond(request: Request, services: Services, deadline: float) -> Response:
    return await services.fhir_proxy.handle(request)


handle = Surface("fhir", _respond, failure_outcome)
"""fhir_proxy_fn's entry point (``gateway.azure_http.serve`` adapts it)."""
