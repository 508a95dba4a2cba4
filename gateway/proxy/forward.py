"""The proxy pipeline (docs/proxy.md): authenticate, route, check, forward, rewrite, log.

The base the client called (``/fhir`` or ``/fhir/DSTU2|STU3|R4``, gateway.fhir.bases) names its FHIR version:
every answer the gateway gives itself is an OperationOutcome of that version. Order of the checks, none of which
contacts the provider:

1. method (405), bearer token (401 + ``WWW-Authenticate``, RFC 6750 §3), the token's client
   still existing and enabled (401), the tenant's route (404 none / 403 disabled), the route's provider
   version serving the client's (same version, or DSTU2/STU3 on R4; else 400 naming both),
2. request size (413), path grammar and query (400), provider URL rules (502),
   batch Bundle shape (400), read-only policy (403; a bridged route is read-only whatever it allows),
   the token's SMART scopes in the client's version (403 ``forbidden``, ``gateway.proxy.scope_check``; every
   batch entry and a ``POST _search`` body included; a page link the gateway signed: exactly its signed
   needs, ``gateway.proxy.paging``).

Then the request passes the steps (``gateway.proxy.exchange``; a bridged one is converted, and may still be
refused there: 400/404/406) and the per-worker transport; the answer passes them back (converted, every
provider URL rewritten to the client's base, paging links signed); gateway failures become OperationOutcome
502/504. Exactly one log line per request (``gateway.proxy.access``), without query values, bodies or tokens.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from gateway import telemetry
from gateway.config import Settings
from gateway.fhir.bases import ClientBase, bases, split_base
from gateway.fhir.outcome import operation_outcome
from gateway.fhir.versions import FhirVersion, Pairing, UnknownFhirVersion, pairing, provider_version
from gateway.http import Request, Response
from gateway.outbound.destinations import validate_provider_url
from gateway.outbound.transport import (
    DestinationRefused,
    Transport,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamTooLarge,
)
from gateway.proxy import outcomes, page_links
from gateway.proxy.access import (
    AccessRefused,
    BadBatch,
    Batch,
    BatchEntry,
    Kind,
    classify,
    parse_batch,
    require_access,
)
from gateway.proxy.batch import MAX_FANOUT_ENTRIES, fan_out
from gateway.proxy.exchange import Caller, Exchange, ProxyStep, StepRefused, Target
from gateway.proxy.headers import downstream_response_headers, upstream_request_headers
from gateway.proxy.needs import Need
from gateway.proxy.paging import PageLinks
from gateway.proxy.paths import FhirPath, PathRejected, check_path, resource_type_of
from gateway.proxy.rewrite import link_rewriter, may_carry_links
from gateway.proxy.scope_check import ScopeRefused, needed_permissions, require
from gateway.proxy.token_scopes import token_scopes
from gateway.proxy.urls import captured_path, normalize_query, upstream_url
from gateway.proxy.verified_tokens import VerifiedTokens
from gateway.stores.errors import StoreUnavailable
from gateway.stores.models import Client, Route
from gateway.tokens.access_tokens import InvalidToken
from gateway.upstream.authenticator import UpstreamAuthenticator
from gateway.upstream.kind import UpstreamAuthError

access_log = logging.getLogger("gateway.proxy.access")
logger = logging.getLogger("gateway.proxy")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
_PAGE_MARKER = f"{page_links.PAGE_PARAMETER}="
_ENTRY_DROPPED_HEADERS = frozenset({"content-type", "if-match", "if-none-match", "if-modified-since",
                                    "if-none-exist"})


@dataclass
class _Log:
    request_id: str
    method: str
    started: float = field(default_factory=time.perf_counter)
    tenant: str = "-"
    client_id: str = "-"
    resource_type: str = "-"
    provider_seconds: float = 0.0
    outcome: str = "-"

    def emit(self, status: int) -> None:
        """The request's access line, its fields also on the record as ``proxy`` (for structured handlers).

        The record is made by the logger (``Logger.makeRecord``: the installed record factory, so whatever a
        worker or an instrumentation adds to records is there) and handed to its handlers (``Logger.handle``,
        which still applies the logger's filters): ``Logger.info`` would also look up the calling frame, which
        this line does not need, on every proxied request.
        """
        if not access_log.isEnabledFor(logging.INFO):  # the line and its fields are built only to be logged
            return
        total_ms = (time.perf_counter() - self.started) * 1000
        provider_ms = self.provider_seconds * 1000
        fields = {"request_id": self.request_id, "tenant": self.tenant, "client_id": self.client_id,
                  "method": self.method, "resource_type": self.resource_type, "status": status,
                  "provider_ms": round(provider_ms, 2), "total_ms": round(total_ms, 2), "outcome": self.outcome}
        access_log.handle(access_log.makeRecord(access_log.name, logging.INFO, __file__, 0,
                                                " ".join(f"{k}={v}" for k, v in fields.items()), (), None,
                                                "proxy", {"proxy": fields}))


def _unauthorized(base: ClientBase, description: str | None) -> Response:
    challenge = f'Bearer realm="{base.url}"'
    if description is not None:
        # RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash).
        safe = "".join(c for c in description if 0x20 <= ord(c) <= 0x7E and c not in '"\\')
        challenge += f', error="invalid_token", error_description="{safe}"'
    text = description or "An access token is required (Authorization: Bearer)."
    return operation_outcome(401, f"Unauthorized: {text}", fhir_version=base.version,
                             headers={"WWW-Authenticate": challenge})


def _bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


class _Refused(Exception):
    """A request the gateway answers itself: the access log's ``outcome`` and the response, rendered
    (OperationOutcome, or a 401 with its RFC 6750 §3 challenge)."""

    def __init__(self, outcome: str, response: Response) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.response = response

    @classmethod
    def outcome_of(cls, outcome: str, status: int, text: str, version: FhirVersion, *, code: str | None = None,
                   headers: dict[str, str] | None = None) -> _Refused:
        return cls(outcome, operation_outcome(status, text, fhir_version=version, code=code, headers=headers))


V = TypeVar("V", covariant=True)


class Lookup(Protocol[V]):
    """A cached per-worker lookup by key (``gateway.directory``: clients by id, routes by tenant)."""

    async def get(self, key: str) -> V | None: ...


@dataclass(slots=True)
class _Asked:
    """Where the request went: the base the client called, and the path below it as sent (still encoded, and as
    the host decoded it) with the raw query."""

    base: ClientBase
    path: str
    decoded: str | None
    query: str

    @classmethod
    def of(cls, request: Request, known: Mapping[str, ClientBase]) -> _Asked:
        """``known``: the gateway's bases (gateway.fhir.bases)."""
        decoded = request.route_params.get("path")
        raw_path, raw_query = captured_path(request.url, decoded)
        base, path = split_base(raw_path, known)
        if decoded is not None:
            decoded = split_base(decoded, known)[1]
        return cls(base, path, decoded, raw_query)


class FhirProxy:
    """fhir_proxy_fn's handler (see the module docstring): ``tokens`` verifies bearer tokens, ``clients`` and
    ``routes`` look up the token's client and tenant route, ``upstream_auth`` gets the provider's credentials,
    ``transport`` carries the call, ``steps`` (``gateway.proxy.exchange``) change the request on its way out
    and the answer on its way back, and ``paging`` reads the page tokens of requests (and loads the key the
    signing step writes them with)."""

    def __init__(self, *, settings: Settings, tokens: VerifiedTokens, clients: Lookup[Client], routes: Lookup[Route],
                 upstream_auth: UpstreamAuthenticator, transport: Transport, steps: Sequence[ProxyStep],
                 paging: PageLinks | None = None) -> None:
        self._settings = settings
        self._bases = bases(settings)
        self._default_version = self._bases[""].version
        self._tokens = tokens
        self._clients = clients
        self._routes = routes
        self._upstream_auth = upstream_auth
        self._transport = transport
        self._paging = paging
        # The route's provider URL by the destination rules, once per URL (keyed without hashing the settings).
        self._url_problems = functools.lru_cache(maxsize=4096)(functools.partial(_provider_url_problems,
                                                                               settings=settings))
        self._outgoing_steps = tuple(step.outgoing for step in steps if step.changes_requests())  # in order
        self._incoming_steps = tuple(step.incoming for step in reversed(steps) if step.changes_answers())  # reversed

    async def handle(self, request: Request) -> Response:
        """Handle one proxied FHIR request (see the module docstring)."""
        log = _Log(request.request_id, request.method.upper())
        asked = _Asked.of(request, self._bases)
        try:
            response = await self._proxy(request, asked, log)
        except _Refused as refused:
            log.outcome = refused.outcome
            response = refused.response
        except Exception as exc:  # noqa: BLE001 - still one log line and an OperationOutcome, never a trace
            logger.error("proxy: unexpected error request_id=%s type=%s", log.request_id, type(exc).__name__,
                         exc_info=logger.isEnabledFor(logging.DEBUG))
            log.outcome = outcomes.INTERNAL_ERROR
            response = operation_outcome(500,
                                         f"The gateway failed to handle the request (request id {log.request_id}).",
                                         fhir_version=asked.base.version)
        if "x-request-id" not in response.headers:
            response.headers.set("X-Request-Id", log.request_id)
        log.emit(response.status)
        telemetry.proxy_finished(log, response.status)
        return response

    async def _proxy(self, request: Request, asked: _Asked, log: _Log) -> Response:
        """The stages in order; each either returns what the next needs or raises :class:`_Refused`."""
        settings = self._settings
        method = log.method
        if method not in METHODS:
            raise _Refused.outcome_of(outcomes.METHOD_NOT_ALLOWED, 405, "This method is not supported.",
                                      asked.base.version, headers={"Allow": ", ".join(sorted(METHODS))})
        caller = await self._authenticate(request, asked.base, log)
        route, provider = _route(caller, asked.base, self._default_version)
        paging = self._paging
        if paging is not None and _PAGE_MARKER in asked.query:
            await paging.ready()
        checking = _Checking(asked, provider, settings, paging, self._url_problems)
        target = _check(request, method, caller, route, checking, log)
        return await self._forward(Exchange(request, caller, route, target, asked.base, provider), log)

    # -- who is calling ------------------------------------------------------------------------------------------

    async def _authenticate(self, request: Request, base: ClientBase, log: _Log) -> Caller:
        """The bearer token verified, its client still existing, enabled and allowed the token's tenant (401 if
        not); the tenant's route looked up alongside (a store outage is a 503)."""
        token = _bearer_token(request)
        if token is None:
            raise _Refused(outcomes.NO_TOKEN, _unauthorized(base, None))
        try:
            claims = await self._tokens.verify(token)
            log.client_id, log.tenant = claims.client_id, claims.tenant_id
            client = await self._clients.get(claims.client_id)
            route = await self._routes.get(claims.tenant_id)
        except InvalidToken as exc:
            raise _Refused(outcomes.INVALID_TOKEN, _unauthorized(base, exc.description)) from None
        except StoreUnavailable:
            logger.warning("proxy: configuration store unavailable request_id=%s", log.request_id)
            raise _Refused.outcome_of(outcomes.STORE_UNAVAILABLE, 503,
                                      "The gateway's configuration store is temporarily unavailable.",
                                      base.version, headers={"Retry-After": "5"}) from None
        if client is None or not client.enabled:
            raise _Refused(outcomes.CLIENT_DISABLED, _unauthorized(base, "the token's client is unknown or disabled"))
        if not client.allows_tenant(claims.tenant_id):
            raise _Refused(outcomes.TENANT_NOT_ALLOWED,
                           _unauthorized(base, "the token's client may not access this tenant"))
        return Caller(claims, client, route)

    # -- forward ------------------------------------------------------------------------------------------------

    async def _forward(self, exchange: Exchange, log: _Log) -> Response:
        """The request sent through the per-worker transport with the provider's credentials; the answer rendered."""
        route = exchange.route
        version = exchange.base.version
        authenticator = self._upstream_auth
        try:
            authorization = await authenticator.authorization(route, self._transport)
        except UpstreamAuthError as exc:
            raise _Refused.outcome_of(outcomes.PROVIDER_AUTH_FAILED, 502, str(exc), version) from None
        headers = upstream_request_headers(exchange.request, self._settings, provider_authorization=authorization)
        started = time.perf_counter()
        try:
            answer = await self._send(exchange, headers)
        except UpstreamError as exc:
            raise _failure(exc, version, log.request_id) from None
        except StepRefused as exc:
            raise _Refused.outcome_of(outcomes.NOT_TRANSLATABLE, exc.status, str(exc), version,
                                      code=exc.code) from None
        finally:
            log.provider_seconds = time.perf_counter() - started
        if answer.status == 401:
            # The client's token is never sent on: a provider 401 refuses the gateway's own credentials. Passed on, it
            # would tell the client its token is bad (RFC 6750 §3.1) and send it to fetch another, in vain.
            if authorization is not None:
                authenticator.forget(route)  # the next request gets a fresh provider token
            logger.warning("proxy: the provider refused the gateway's credentials request_id=%s", log.request_id)
            raise _Refused.outcome_of(outcomes.PROVIDER_REFUSED_CREDENTIALS, 502,
                                      "The FHIR server refused the gateway's credentials for this tenant.", version)
        log.outcome = outcomes.FORWARDED
        if self._paging is not None and answer.body and may_carry_links(answer.body):
            await self._paging.ready()  # the signing step's key
        return self._answer(exchange, answer, log.request_id)

    async def _send(self, exchange: Exchange, headers: list[tuple[str, str]]) -> UpstreamResponse:
        """The request (or, for a batch the gateway fans out, each entry) through the steps and the transport."""
        route, target = exchange.route, exchange.target
        if not _fans_out(target.kind, route, target.batch) or target.batch is None:
            url = upstream_url(route.fhir_base_url, target.path.path, target.query)
            sent = self._upstream(exchange, target.method, url, headers, exchange.request.body or None)
            exchange.provider_url = sent.url
            return await self._transport.send(sent)
        entry_headers = [(k, v) for k, v in headers if k.lower() not in _ENTRY_DROPPED_HEADERS]
        entries = [(entry, self._upstream(exchange, entry.method,
                                          upstream_url(route.fhir_base_url, entry.path.path,
                                                       normalize_query(entry.query)), entry_headers, None))
                   for entry in target.batch.entries]  # every entry through the steps before any is sent
        sent_for = {id(entry): sent for entry, sent in entries}

        async def send_entry(entry: BatchEntry) -> UpstreamResponse:
            return await self._transport.send(sent_for[id(entry)])

        links = link_rewriter(route.fhir_base_url, exchange.base.url)
        body = await fan_out(target.batch, send_entry, links.header_url)  # entry locations: the link policy
        media_type = f"{exchange.provider.media_type}; charset=utf-8"
        return UpstreamResponse(status=200, headers=[("Content-Type", media_type)], body=body)

    def _upstream(self, exchange: Exchange, method: str, url: str, headers: list[tuple[str, str]],
                  body: bytes | None) -> UpstreamRequest:
        """One request to the provider, with the route's timeouts (else the settings'; reads retried once), as the
        steps change it, in order."""
        settings, route = self._settings, exchange.route
        request = UpstreamRequest(method=method, url=url, headers=headers, body=body,
                                  connect_timeout=route.connect_timeout_seconds
                                  or settings.proxy_connect_timeout_seconds,
                                  read_timeout=route.read_timeout_seconds or settings.proxy_read_timeout_seconds,
                                  private_network=route.private_network,
                                  max_response_bytes=settings.proxy_max_response_bytes,
                                  retry_on_connection_failure=method in ("GET", "HEAD"))
        for outgoing in self._outgoing_steps:
            request = outgoing(exchange, request)
        return request

    def _answer(self, exchange: Exchange, answer: UpstreamResponse, request_id: str) -> Response:
        """The provider's answer as the client gets it: headers by the response policy (``headers.py``), then the
        steps in reverse order (link rewriting, ``rewrite.py``); a HEAD answer without its body."""
        headers = downstream_response_headers(answer.headers, request_id, has_body=bool(answer.body))
        response = Response(status=answer.status, body=answer.body, headers=headers)
        for incoming in self._incoming_steps:
            response = incoming(exchange, response)
        if exchange.target.method == "HEAD":
            response.body = b""
        return response


# -- where to ---------------------------------------------------------------------------------------------------

def _route(caller: Caller, base: ClientBase, default: FhirVersion) -> tuple[Route, FhirVersion]:
    """The tenant's route: connected (404 if not) and enabled (403), with its provider's version, which must
    serve the client's (same version, or bridged; 400 naming both otherwise)."""
    route = caller.route
    client = base.version
    if route is None:
        raise _Refused.outcome_of(outcomes.NO_ROUTE, 404, "No FHIR server is connected for this tenant.", client)
    if not route.enabled:
        raise _Refused.outcome_of(outcomes.ROUTE_DISABLED, 403, "The FHIR connection of this tenant is disabled.",
                                  client)
    try:
        provider = provider_version(route.fhir_version, default)
    except UnknownFhirVersion:
        logger.error("proxy: the route's FHIR version is not one the gateway serves tenant=%s", route.tenant_id)
        raise _Refused.outcome_of(outcomes.ROUTE_VERSION_UNKNOWN, 502, "The FHIR version configured for this "
                                  "tenant's connection is not one the gateway serves.", client) from None
    if pairing(client, provider) is Pairing.NOT_SERVED:
        raise _Refused.outcome_of(
            outcomes.VERSION_NOT_SERVED, 400,
            f"This tenant's FHIR server speaks FHIR {provider.name} ({provider.number}); a FHIR {client.name} client "
            f"cannot be served from it (the gateway converts FHIR DSTU2 and STU3 to R4 only). Call the "
            f"/fhir/{provider.name} base instead.", client, code="not-supported")
    return route, provider


# -- what is asked ----------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Checking:
    """What the checks of a request read besides the request: where it was sent, the provider's version, the
    settings, the page links (None: no page token is accepted) and what is wrong with a provider URL by the
    destination rules (``(url, private_network) -> problems``)."""

    asked: _Asked
    provider: FhirVersion
    settings: Settings
    paging: PageLinks | None
    url_problems: Callable[[str, bool], tuple[str, ...]]

    @property
    def version(self) -> FhirVersion:
        return self.asked.base.version

    @property
    def bridged(self) -> bool:
        return self.asked.base.version is not self.provider


def _check(request: Request, method: str, caller: Caller, route: Route, checking: _Checking, log: _Log) -> Target:
    """Size, path grammar and query, provider URL rules, batch shape, read-only policy and the token's scopes."""
    settings, version = checking.settings, checking.version
    if len(request.body) > settings.max_request_body_bytes:
        raise _Refused.outcome_of(outcomes.BODY_TOO_LARGE, 413, "The request body is larger than the gateway accepts.",
                                  version)
    path, query = _checked_path(checking.asked)
    log.resource_type = path.resource_type or resource_type_of(path.path) or ("(base)" if path.is_base else "-")
    if checking.url_problems(route.fhir_base_url, route.private_network):
        logger.error("proxy: the route's provider URL is not allowed tenant=%s", route.tenant_id)
        raise _Refused.outcome_of(outcomes.PROVIDER_URL_REFUSED, 502,
                                  "The tenant's FHIR server address is not allowed by the gateway.", version)
    content_type = request.headers.get("content-type", "")
    batch: Batch | None = None
    if method == "POST" and path.is_base:
        try:
            batch = parse_batch(request.body, content_type, checking.asked.base.url)
        except BadBatch as exc:
            raise _Refused.outcome_of(outcomes.BAD_BATCH, 400, str(exc), version) from None
    kind = classify(method, path, batch)
    _require_access(kind, route, method, path, batch, checking)
    query, needs, continuation = _page(method, path, query, caller, checking)
    try:
        if needs is None:
            needs = tuple(needed_permissions(method, path, query, body=request.body, content_type=content_type,
                                             batch=batch, if_none_exist=request.headers.get("if-none-exist"),
                                             fhir_version=version.name))
            if _PAGE_MARKER in query:
                query = page_links.split_token(query)[0]  # judged with the token (an unsigned page); not forwarded
        require(token_scopes(caller.claims, caller.client), needs)
    except ScopeRefused as exc:
        raise _Refused.outcome_of(outcomes.OUTSIDE_SCOPES, 403, str(exc), version, code="forbidden") from None
    if _fans_out(kind, route, batch) and batch is not None and len(batch.entries) > MAX_FANOUT_ENTRIES:
        raise _Refused.outcome_of(outcomes.BATCH_TOO_LARGE, 413,
                                  f"The gateway runs batches of at most {MAX_FANOUT_ENTRIES} entries.",
                                  version, code="too-costly")
    return Target(method, path, query, batch, kind, needs, continuation)


def _require_access(kind: Kind, route: Route, method: str, path: FhirPath, batch: Batch | None,
                    checking: _Checking) -> None:
    """The route's read-only policy (403); a bridged route is read-only whatever it allows."""
    version = checking.version
    if checking.bridged and kind == "write":
        raise _Refused.outcome_of(
            outcomes.READ_ONLY, 403, f"Requests of FHIR {version.name} clients to this tenant's FHIR "
            f"{checking.provider.name} server are converted between the versions and read-only: {method} is not "
            "allowed here.", version)
    try:
        require_access(kind, route.allow_writes, method, path, batch)
    except AccessRefused as exc:
        raise _Refused.outcome_of(outcomes.READ_ONLY, 403, str(exc), version) from None


def _page(method: str, path: FhirPath, query: str, caller: Caller,
          checking: _Checking) -> tuple[str, tuple[Need, ...] | None, bool]:
    """A GET or HEAD following a page link the gateway signed for this caller: its query without the token, the
    signed needs and True; otherwise the query as it came (a token that is not valid is judged in it: an unsigned
    page on the base, nothing on a type) with no needs yet."""
    paging = checking.paging
    if _PAGE_MARKER not in query:
        return query, None, False
    rest, token = page_links.split_token(query)
    if token is None or paging is None or method not in ("GET", "HEAD"):
        return query, None, False
    claims = caller.claims
    needs = paging.needs_of(token, path.path, rest, tenant=claims.tenant_id, client_id=claims.client_id)
    if needs is not None:
        return rest, needs, True
    return (query if path.is_base else rest), None, False


def _checked_path(asked: _Asked) -> tuple[FhirPath, str]:
    """The path as the client sent it (and as the host decoded it) by the FHIR path grammar; the query normalized."""
    try:
        path = check_path(asked.path)
        if asked.decoded is not None and asked.decoded != asked.path:  # the same text checks the same
            check_path(asked.decoded)
        return path, normalize_query(asked.query)
    except PathRejected as exc:
        raise _Refused.outcome_of(outcomes.BAD_PATH, 400, str(exc), asked.base.version) from None


def _fans_out(kind: str, route: Route, batch: Batch | None) -> bool:
    """Whether a read-only batch is run entry by entry by the gateway (the route's ``batch_mode``)."""
    return kind == "read-batch" and route.batch_mode == "fanout" and batch is not None


def _provider_url_problems(url: str, private_network: bool, *, settings: Settings) -> tuple[str, ...]:
    return tuple(validate_provider_url(url, settings, private_network))


def _failure(exc: UpstreamError, version: FhirVersion, request_id: str) -> _Refused:
    """A failed provider call as the client sees it: 504 for a timeout, 502 for the rest."""
    if isinstance(exc, UpstreamTimeout):
        return _Refused.outcome_of(outcomes.PROVIDER_TIMEOUT, 504, "The FHIR server did not answer in time.", version)
    if isinstance(exc, UpstreamTooLarge):
        return _Refused.outcome_of(outcomes.PROVIDER_TOO_LARGE, 502,
                                   "The FHIR server's response is larger than the gateway accepts.", version,
                                   code="too-costly")
    if isinstance(exc, DestinationRefused):
        logger.error("proxy: the provider resolved to a refused address request_id=%s", request_id)
        return _Refused.outcome_of(outcomes.PROVIDER_ADDRESS_REFUSED, 502,
                                   "The tenant's FHIR server address is not allowed by the gateway.", version)
    return _Refused.outcome_of(outcomes.provider_failure(type(exc)), 502,
                               "The FHIR server could not be reached or gave an invalid answer.", version)


__all__ = ["FhirProxy"]
