"""Entry point of ``fhir_proxy_fn`` (route ``fhir/{*path}``): the worker's services + :func:`proxy`."""

from __future__ import annotations

from gateway.http import Request, Response
from gateway.proxy.forward import proxy
from gateway.services import current_services


async def handle(request: Request) -> Response:
    """Proxy one FHIR request for the Functions worker (``gateway.azure_http.serve`` adapts it)."""
    return await proxy(request, await current_services())
