"""admin_fn (route ``manage/{*path}``): the admin API (``gateway.admin.endpoint``) behind the entry adapter,
failures outside it answered as problem details."""

from __future__ import annotations

from gateway.admin.endpoint import render_failure
from gateway.entry import Surface
from gateway.http import Request, Response
from gateway.services import Services


async def _respond(request: Request, services: Services, deadline: float) -> Response:
    return await services.admin_endpoint.dispatch(request, deadline=deadline)


handle = Surface("admin", _respond, render_failure)
"""admin_fn's entry point: a cold worker's store opening counts toward the request's STORE_TIMEOUT_SECONDS."""
