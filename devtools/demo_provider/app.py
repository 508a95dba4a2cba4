"""The demo provider as an aiohttp web application: routes, methods, media types, and optional Backend Services.

``create_app(base_url)`` serves ``/dstu2``, ``/stu3`` and ``/r4`` at once::

    GET  /<v>/metadata                  Conformance / CapabilityStatement
    GET  /<v>/<Type>/<id>[/_history/1]  read / vread (ETag, Last-Modified, If-None-Match)
    GET  /<v>/<Type>?...                search
    POST /<v>/<Type>/_search            search, form-encoded body (+ query string)
    GET  /<v>?_getpages=...             further pages of a search
    POST /<v>                           batch Bundle -> batch-response

With ``backend_services`` (SMART Backend Services mode) it also serves
``POST /auth/token`` and ``GET /<v>/.well-known/smart-configuration``, and every
other FHIR route demands a bearer token from that endpoint whose scopes allow
the interaction (see :mod:`devtools.demo_provider.backend_services`).

Routes sit on aiohttp's router; one middleware does what every FHIR request
shares: content negotiation, the bearer check, and turning the router's 404 and
405 into OperationOutcomes (404 unknown path, type or id; 405 with ``Allow``
for a method the path does not take; 406, 410, 413, 415, 400, 401, 403).
``base_url`` is what absolute URLs (fullUrl, links) start with.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from devtools.demo_provider.backend_services import (
    FORM,
    TOKEN_PATH,
    BackendServices,
    BackendServicesConfig,
    BearerRejected,
    Grant,
    OAuthError,
)
from devtools.demo_provider.data import DEMO_PATIENT_ID
from devtools.demo_provider.media import NotAcceptable, fhir_type, negotiate, outcome
from devtools.demo_provider.provider import SEGMENTS, Provider, Reply, error, is_valid_type
from devtools.demo_provider.scopes import READ, SEARCH

PROVIDER = web.AppKey("provider", Provider)
BACKEND = web.AppKey("backend_services", BackendServices)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
FHIR_VERSION = web.RequestKey("fhir_version", str)
CONTENT_TYPE = web.RequestKey("content_type", str)
QUERY = web.RequestKey("query", list)
GRANT = web.RequestKey("grant", Grant)
MAX_FORM_FIELDS = 200
VERSION = "{version:(?i:dstu2|stu3|r4)}"
SLASH = "{slash:/?}"  # a trailing slash names the same resource
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

routes = web.RouteTableDef()
discovery_routes = web.RouteTableDef()


def _respond(reply: Reply, content_type: str) -> web.Response:
    headers = dict(reply.headers)
    if reply.body:
        headers["Content-Type"] = content_type
    return web.Response(status=reply.status, body=reply.body or None, headers=headers)


def _answer(request: web.Request, reply: Reply) -> web.Response:
    return _respond(reply, request[CONTENT_TYPE])


def _not_allowed(allowed: str) -> Reply:
    return error(405, f"Method not allowed here; allowed: {allowed}", headers={"Allow": allowed})


def _version(request: web.Request) -> str:
    return request[FHIR_VERSION]


def _self_url(request: web.Request) -> str:
    return request.app[PROVIDER].base_url + request.raw_path


def _forbidden(request: web.Request, resource_type: str, interaction: str) -> Reply | None:
    """403 when the request's token (Backend Services mode) does not allow ``interaction`` on the type."""
    grant = request.get(GRANT)
    if grant is None or grant.allows(resource_type, interaction) or not is_valid_type(resource_type):
        return None
    return error(403, "The access token's scopes do not allow this interaction on this resource type",
                 "forbidden", headers={"WWW-Authenticate": 'Bearer realm="demo-provider", error="insufficient_scope"'})


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


# -- routes ----------------------------------------------------------------------------------------------------------
@routes.route("*", "/")
async def index(request: web.Request) -> web.Response:
    provider = request.app[PROVIDER]
    return web.json_response({
        "service": "demo provider FHIR server (synthetic data)",
        "fhirBaseUrls": {v: provider.version_base(v) for v in SEGMENTS.values()},
        "demoPatient": DEMO_PATIENT_ID})


@routes.get(f"/{VERSION}/metadata{SLASH}", allow_head=False)
async def metadata(request: web.Request) -> web.Response:
    return _answer(request, Reply(200, request.app[PROVIDER].metadata[_version(request)]))


@discovery_routes.get(f"/{VERSION}/.well-known/smart-configuration{SLASH}", allow_head=False)
async def smart_configuration(request: web.Request) -> web.Response:
    """SMART discovery (unauthenticated); always ``application/json``."""
    return web.json_response(request.app[BACKEND].discovery())


@routes.get(f"/{VERSION}{SLASH}", allow_head=False)
async def base_get(request: web.Request) -> web.Response:
    provider, version, query = request.app[PROVIDER], _version(request), request[QUERY]
    if not any(k == "_getpages" for k, _ in query):
        return _answer(request, error(400, "System-level search is not supported; search a resource type",
                                      "not-supported"))
    resource_type = provider.page_type(query)
    refused = _forbidden(request, resource_type, SEARCH) if resource_type else None
    return _answer(request, refused or provider.page(version, query, _self_url(request)))


@routes.post(f"/{VERSION}{SLASH}")
async def batch(request: web.Request) -> web.Response:
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _answer(request, error(413, "The request body is too large"))
    grant = request.get(GRANT)
    permits = None if grant is None else grant.allows
    return _answer(request, request.app[PROVIDER].batch(_version(request), body, permits))


@routes.get(f"/{VERSION}/{{type}}/_search{SLASH}", allow_head=False)
@routes.post(f"/{VERSION}/{{type}}/_search{SLASH}")
async def search_form(request: web.Request) -> web.Response:
    resource_type = request.match_info["type"]
    form = await _form_pairs(request) if request.method == "POST" else []
    if isinstance(form, Reply):
        return _answer(request, form)
    refused = _forbidden(request, resource_type, SEARCH)
    return _answer(request, refused or request.app[PROVIDER].search(
        _version(request), resource_type, [*request[QUERY], *form], _self_url(request)))


@routes.get(f"/{VERSION}/{{type}}{SLASH}", allow_head=False)
async def search(request: web.Request) -> web.Response:
    resource_type = request.match_info["type"]
    refused = _forbidden(request, resource_type, SEARCH)
    return _answer(request, refused or request.app[PROVIDER].search(
        _version(request), resource_type, request[QUERY], _self_url(request)))


@routes.get(f"/{VERSION}/{{type}}/{{id}}{SLASH}", allow_head=False)
@routes.get(f"/{VERSION}/{{type}}/{{id}}/_history/{{vid}}{SLASH}", allow_head=False)
async def read(request: web.Request) -> web.Response:
    resource_type, vid = request.match_info["type"], request.match_info.get("vid")
    if vid is not None and vid != "1":
        return _answer(request, error(404, f"{resource_type} version not found") if vid.isdigit()
                       else error(404, "Unknown version id"))
    refused = _forbidden(request, resource_type, READ)
    return _answer(request, refused or request.app[PROVIDER].read(
        _version(request), resource_type, request.match_info["id"], request.headers.get("If-None-Match")))


async def token(request: web.Request) -> web.Response:
    """The Backend Services token endpoint (RFC 6749 §4.4 with RFC 7523 client authentication)."""
    if request.content_type != FORM:
        return OAuthError("invalid_request", f"the token request must be {FORM}").response()
    try:
        form = await request.post()
    except (ValueError, web.HTTPRequestEntityTooLarge):
        return OAuthError("invalid_request", "the token request body cannot be read").response()
    return await request.app[BACKEND].token(form)  # type: ignore[arg-type]


PUBLIC = frozenset({metadata, smart_configuration})


# -- what every request shares ---------------------------------------------------------------------------------------
async def _outside_fhir(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:  # the token endpoint takes POST only
        response = OAuthError("invalid_request", "the token endpoint takes POST only", 405).response()
        response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response
    except web.HTTPNotFound:
        return _respond(error(404, "Unknown FHIR base; use /dstu2, /stu3 or /r4", "not-supported"),
                        fhir_type("STU3"))


@web.middleware
async def fhir_protocol(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Negotiation, the bearer check (Backend Services mode), and OperationOutcomes for 404/405."""
    segments = [s for s in request.path.split("/") if s]
    version = SEGMENTS.get(segments[0].lower()) if segments else None
    if version is None:
        return await _outside_fhir(request, handler)
    query = parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)
    fmt = next((v for k, v in query if k == "_format"), None)
    try:
        content_type = negotiate(version, request.headers.get("Accept"), fmt)
    except NotAcceptable:
        return web.Response(status=406, body=outcome(406, "This server answers JSON only"),
                            headers={"Content-Type": fhir_type(version)})
    request[FHIR_VERSION], request[CONTENT_TYPE], request[QUERY] = version, content_type, query
    services = request.app.get(BACKEND)
    if services is not None and request.match_info.handler not in PUBLIC:
        try:
            request[GRANT] = services.authenticate(request.headers.get("Authorization"))
        except BearerRejected as exc:
            return _respond(error(401, exc.message, "login", headers={"WWW-Authenticate": exc.challenge()}),
                            content_type)
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        return _respond(_not_allowed(", ".join(sorted(exc.allowed_methods))), content_type)
    except web.HTTPNotFound:
        return _respond(error(404, "Unknown path", "not-supported"), content_type)


def _latency(delay_ms: float) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def add_latency(request: web.Request, handler: Handler) -> web.StreamResponse:
        await asyncio.sleep(delay_ms / 1000)
        return await handler(request)
    return add_latency


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    """The client session that fetches the registered clients' JWKS (Backend Services mode)."""
    async with aiohttp.ClientSession() as session:
        app[HTTP_SESSION] = session
        yield


def create_app(base_url: str, *, latency_ms: float = 0,
               backend_services: BackendServicesConfig | None = None) -> web.Application:
    """The demo provider application; absolute URLs in responses start with ``base_url``.

    ``latency_ms`` delays every response (upstream-latency simulation for tests and benchmarks);
    ``backend_services`` turns on SMART Backend Services mode (off by default).
    """
    app = web.Application(middlewares=[*([_latency(latency_ms)] if latency_ms > 0 else []), fhir_protocol])
    token_url = base_url.rstrip("/") + TOKEN_PATH if backend_services is not None else None
    provider = Provider(base_url, token_url=token_url)
    if backend_services is not None:
        app[BACKEND] = BackendServices(backend_services, provider.base_url, lambda: app[HTTP_SESSION])
        app.cleanup_ctx.append(_http_session)
        app.router.add_post(TOKEN_PATH, token)
        app.router.add_routes(discovery_routes)
    app[PROVIDER] = provider
    app.router.add_routes(routes)
    return app


__all__ = ["PROVIDER", "create_app"]
