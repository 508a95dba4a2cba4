"""The demo provider as an aiohttp web application: routing, methods, media types.

``create_app(base_url)`` serves ``/dstu2``, ``/stu3`` and ``/r4`` at once::

    GET  /<v>/metadata                  Conformance / CapabilityStatement
    GET  /<v>/<Type>/<id>[/_history/1]  read / vread (ETag, Last-Modified, If-None-Match)
    GET  /<v>/<Type>?...                search
    POST /<v>/<Type>/_search            search, form-encoded body (+ query string)
    GET  /<v>?_getpages=...             further pages of a search
    POST /<v>                           batch Bundle -> batch-response

Every error is an OperationOutcome with the right status (404 unknown path,
type or id; 405 with ``Allow`` for a method the path does not take; 406, 410,
413, 415, 400). ``base_url`` is what absolute URLs (fullUrl, links) start with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from devtools.demo_provider.data import DEMO_PATIENT_ID
from devtools.demo_provider.media import NotAcceptable, fhir_type, negotiate, outcome
from devtools.demo_provider.provider import SEGMENTS, Provider, Reply, error

PROVIDER = web.AppKey("provider", Provider)
FORM = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 200
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _respond(reply: Reply, content_type: str) -> web.Response:
    headers = dict(reply.headers)
    if reply.body:
        headers["Content-Type"] = content_type
    return web.Response(status=reply.status, body=reply.body or None, headers=headers)


def _not_allowed(allowed: str) -> Reply:
    return error(405, f"Method not allowed here; allowed: {allowed}", headers={"Allow": allowed})


async def _form_pairs(request: web.Request) -> list[tuple[str, str]] | Reply:
    """The parameters of a ``POST _search`` form body (FHIR http §search: application/x-www-form-urlencoded)."""
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return error(413, "The request body is too large")
    if not body:
        return []
    if request.content_type != FORM:
        return error(415, f"POST _search expects {FORM}")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return error(400, "The form body is not valid application/x-www-form-urlencoded UTF-8")


async def _dispatch(request: web.Request, provider: Provider, version: str, rest: list[str],
                    query: list[tuple[str, str]]) -> Reply:
    method = request.method
    self_url = provider.base_url + request.raw_path
    if not rest:
        if method == "POST":
            try:
                return provider.batch(version, await request.read())
            except web.HTTPRequestEntityTooLarge:
                return error(413, "The request body is too large")
        if method != "GET":
            return _not_allowed("GET, POST")
        if any(k == "_getpages" for k, _ in query):
            return provider.page(version, query, self_url)
        return error(400, "System-level search is not supported; search a resource type", "not-supported")
    if rest == ["metadata"]:
        return Reply(200, provider.metadata[version]) if method == "GET" else _not_allowed("GET")
    resource_type = rest[0]
    if len(rest) == 1:
        return provider.search(version, resource_type, query, self_url) if method == "GET" else _not_allowed("GET")
    if len(rest) == 2 and rest[1] == "_search":
        if method not in ("GET", "POST"):
            return _not_allowed("GET, POST")
        form = await _form_pairs(request) if method == "POST" else []
        if isinstance(form, Reply):
            return form
        return provider.search(version, resource_type, [*query, *form], self_url)
    if len(rest) == 2 or (len(rest) == 4 and rest[2] == "_history"):
        if method != "GET":
            return _not_allowed("GET")
        if len(rest) == 4 and rest[3] != "1":
            return error(404, f"{resource_type} version not found") if rest[3].isdigit() else \
                error(404, "Unknown version id")
        return provider.read(version, resource_type, rest[1], request.headers.get("If-None-Match"))
    return error(404, "Unknown path", "not-supported")


async def handle(request: web.Request) -> web.StreamResponse:
    """Route one request (all paths land here, so that every error is an OperationOutcome)."""
    provider = request.app[PROVIDER]
    segments = [s for s in request.path.split("/") if s]
    if not segments:
        return web.json_response({
            "service": "demo provider FHIR server (synthetic data)",
            "fhirBaseUrls": {v: provider.version_base(v) for v in SEGMENTS.values()},
            "demoPatient": DEMO_PATIENT_ID})
    version = SEGMENTS.get(segments[0].lower())
    if version is None:
        return _respond(error(404, "Unknown FHIR base; use /dstu2, /stu3 or /r4", "not-supported"),
                        fhir_type("STU3"))
    query = parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)
    fmt = next((v for k, v in query if k == "_format"), None)
    try:
        content_type = negotiate(version, request.headers.get("Accept"), fmt)
    except NotAcceptable:
        return web.Response(status=406, body=outcome(406, "This server answers JSON only"),
                            headers={"Content-Type": fhir_type(version)})
    reply = await _dispatch(request, provider, version, segments[1:], query)
    return _respond(reply, content_type)


def _latency(delay_ms: float) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def add_latency(request: web.Request, handler: Handler) -> web.StreamResponse:
        await asyncio.sleep(delay_ms / 1000)
        return await handler(request)
    return add_latency


def create_app(base_url: str, *, latency_ms: float = 0) -> web.Application:
    """The demo provider application; absolute URLs in responses start with ``base_url``.

    ``latency_ms`` delays every response (upstream-latency simulation for tests and benchmarks).
    """
    app = web.Application(middlewares=[_latency(latency_ms)] if latency_ms > 0 else [])
    app[PROVIDER] = Provider(base_url)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


__all__ = ["PROVIDER", "create_app"]
