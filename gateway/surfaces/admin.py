"""admin_fn (route ``manage/{*path}``): the admin API (``gateway.admin.endpoint``, loaded with the worker's
services on the first admin request) behind the entry adapter, failures outside it answered as problem details."""

from __future__ import annotations

from gateway.admin.problems import Problem, problem_response, unavailable
from gateway.config import Settings
from gateway.entry import Surface
from gateway.failure import Failure
from gateway.http import Request, Response
from gateway.services import Services


async def _respond(request: Request, services: Services, deadline: float) -> Response:
    return await services.admin_endpoint.dispatch(request, deadline=deadline)


def render_failure(failure: Failure, request: Request, settings: Settings | None) -> Response:
    """Start-up and store failures as problem details: 503 with ``Retry-After``, or 500."""
    if failure is Failure.UNAVAILABLE:
        problem = unavailable("The admin API cannot reach its stores; retry later.")
    elif failure is Failure.MISCONFIGURED:
        problem = Problem(500, "misconfigured", "The gateway is not configured correctly; see its logs.")
    else:
        problem = Problem(500, "internal", "The request failed unexpectedly.")
    return problem_response(problem, request.request_id)


handle = Surface("admin", _respond, render_failure)
"""admin_fn's entry point: a cold worker's store opening counts toward the request's STORE_TIMEOUT_SECONDS."""
