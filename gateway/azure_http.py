"""The one bridge between ``azure.functions`` and the gateway's own types (:mod:`gateway.http`).

Only the function folders import this module: the core never imports
``azure.functions``, so it loads and runs without the Functions runtime.
"""

from __future__ import annotations

import logging

import azure.functions as func

from gateway.http import Handler, Headers, Request, Response, json_response

logger = logging.getLogger("gateway.http")


def from_azure(req: func.HttpRequest) -> Request:
    """Convert the worker's request, keeping the raw URL (and so the raw query string)."""
    return Request(
        method=req.method.upper(),
        url=req.url,
        headers=Headers(req.headers.items()),  # the worker's names are unique (repeats arrive ","-joined)
        route_params=dict(req.route_params),
        body=req.get_body() or b"",
    )


def to_azure(response: Response) -> func.HttpResponse:
    """Convert to the worker's response; headers (Content-Type included) pass unchanged."""
    headers: dict[str, str] = {}
    for name, value in response.headers.items_all():
        # func.HttpResponse headers are single-valued; join repeats per RFC 9110 §5.3.
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    content_type = response.headers.get("content-type", "")
    mimetype, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    return func.HttpResponse(
        body=response.body,
        status_code=response.status,
        headers=headers,
        # No body and no type (a 304, a 204): "" makes the worker send an empty Content-Type, which the host
        # drops (ASP.NET Core's ContentType setter), instead of the worker's default text/plain.
        mimetype=mimetype.strip() or (None if response.body else ""),
        charset=charset,
    )


async def serve(req: func.HttpRequest, handler: Handler, context: func.Context | None = None) -> func.HttpResponse:
    """Run a core handler for the Functions worker (inside the request's server span, see ``gateway.telemetry``).

    A handler is expected to turn every client mistake into a proper response;
    anything that still escapes becomes a bare 500 that reveals nothing (the
    exception's type is logged, never its message, which could carry PHI).
    """
    from gateway import telemetry

    request = from_azure(req)
    try:
        response = await telemetry.serve(request, handler, getattr(context, "trace_context", None))
    except Exception as exc:  # noqa: BLE001 - last line of defence
        logger.error("unhandled error request_id=%s type=%s", request.request_id, type(exc).__name__,
                     exc_info=logger.isEnabledFor(logging.DEBUG))
        response = json_response(500, {"error": "internal_error", "requestId": request.request_id})
    return to_azure(response)
