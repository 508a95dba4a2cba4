"""token_fn: ``/oauth2/token`` (RFC 6749 §4.4, §5), ``/oauth2/jwks`` (RFC 7517), ``/oauth2/provider-jwks``
(``gateway.oauth.provider_jwks``) and ``/oauth2/authorize``.

The token endpoint authenticates the client by a secret (``gateway.oauth.authentication``) or by a
signed assertion, ``private_key_jwt`` (RFC 7523 §2.2, ``gateway.oauth.assertion_auth``); either
way an attempt is reserved against the failure limits before the first await and a failure is
counted (``gateway.oauth.rate_limit``). An assertion whose issuer cannot be read counts against
the source address.

The route is ``oauth2/{endpoint:regex(^(token|jwks|provider-jwks|authorize)$)}``; :func:`respond`
dispatches on ``route_params["endpoint"]``, behind the entry adapter (``gateway.entry``). Only the client
credentials grant exists, so the authorization endpoint always answers ``unsupported_response_type``
itself (§4.1.2.1: it never redirects, there being no registered redirect URI).

One log line per token request: client id, tenant, outcome, status, duration.
Never the secret, the Authorization header, the body or the token.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from gateway import telemetry
from gateway.config import Settings
from gateway.entry import Failure, Surface
from gateway.http import Request, Response, json_response
from gateway.oauth.authentication import AuthenticationFailed
from gateway.oauth.client_assertion import AssertionRejected, ClientAssertion, read_client_assertion
from gateway.oauth.client_auth import ClientCredentials, extract_credentials
from gateway.oauth.errors import (
    NO_STORE,
    InvalidClient,
    InvalidRequest,
    MethodNotAllowed,
    OAuthError,
    ServerError,
    ServiceUnavailable,
    TooManyFailures,
    UnsupportedGrantType,
    UnsupportedResponseType,
)
from gateway.oauth.form import parse_form
from gateway.oauth.grant import GRANT_TYPE, client_credentials_grant
from gateway.oauth.rate_limit import source_address
from gateway.services import Services
from gateway.stores.errors import StoreUnavailable
from gateway.stores.models import Client

logger = logging.getLogger("gateway.oauth")

JWKS_MAX_AGE_SECONDS = 60
UNREADABLE_ASSERTION = "(unreadable assertion)"
"""The failure counters' client id of an assertion without a readable issuer (counted per address too)."""
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")
_SECRET_SHAPED = re.compile(r"[0-9a-f]{16}\.[A-Za-z0-9_-]")  # gateway.credentials: "<secret id>.<random>"


def _loggable(client_id: str | None) -> str:
    if client_id is None:
        return "-"
    if _SECRET_SHAPED.search(client_id):  # a secret sent in the id field (swapped, even with junk around it)
        return "(secret-shaped)"
    return client_id if _SAFE_ID.match(client_id) else "(unprintable)"


ISSUED = "issued"
STORE_UNAVAILABLE = "store_unavailable"
"""Outcomes of a token request besides the OAuth error codes (``gateway.oauth.errors``) and
:func:`refused_outcome`."""


def refused_outcome(reason: str, *, over_the_limit: bool = False) -> str:
    """``invalid_client (<reason>)``: the outcome of a failed client authentication (its metric keeps the code)."""
    return f"{InvalidClient.error} ({reason})" + (" over the limit" if over_the_limit else "")


@dataclass
class _TokenLog:
    """What the one log line of a token request says; filled in as the request goes."""

    client_id: str | None = None
    tenant: str = "-"
    outcome: str = ISSUED


async def token_endpoint(request: Request, services: Services) -> Response:
    """POST /oauth2/token: the client credentials grant, authenticated by a secret or a signed assertion."""
    started = time.perf_counter()
    log = _TokenLog()
    try:
        response = await _issue(request, services, log)
    except OAuthError as error:
        if log.outcome == ISSUED:
            log.outcome = error.error
        response = error.response()
    except StoreUnavailable:
        log.outcome = STORE_UNAVAILABLE
        response = ServiceUnavailable().response()
    client_id = _loggable(log.client_id)
    logger.info("token request client_id=%s tenant=%s outcome=%s status=%d duration_ms=%.2f request_id=%s",
                client_id, log.tenant, log.outcome, response.status, (time.perf_counter() - started) * 1000,
                request.request_id)
    telemetry.token_finished(log.outcome, client_id, log.tenant)
    services.housekeeping.after_token_request()
    return response


async def _issue(request: Request, services: Services, log: _TokenLog) -> Response:
    """The stages in order: the form, who is asking, the grant type, authentication, the grant (§4.4.2)."""
    if request.method != "POST":
        raise MethodNotAllowed("POST")
    form = parse_form(request)
    address = source_address(request)
    presented = await _presented(request, form, services, address, log)
    log.client_id = presented.client_id
    grant_type = form.get("grant_type")
    if grant_type is None:
        hint = " ('grant-type' is not an OAuth parameter)" if "grant-type" in form else ""
        raise InvalidRequest(f"missing grant_type parameter{hint}; use grant_type=client_credentials")
    if grant_type != GRANT_TYPE:
        raise UnsupportedGrantType("only grant_type=client_credentials is supported")
    client = await _authenticate(services, presented, address, log)
    issued = await client_credentials_grant(services, client, form.get("scope"))
    log.tenant = issued.claims.tenant_id
    return json_response(200, {"access_token": issued.access_token, "token_type": issued.token_type,
                               "expires_in": issued.expires_in, "scope": issued.scope}, headers=NO_STORE)


async def _presented(request: Request, form: dict[str, str], services: Services, address: str,
                     log: _TokenLog) -> ClientAssertion | ClientCredentials:
    """The client's assertion (RFC 7523 §2.2) or its id and secret (§2.3.1). An assertion without a readable
    issuer is a failure counted against the source address."""
    try:
        assertion = read_client_assertion(form, authorization_header=bool(request.headers.get_all("authorization")))
    except AssertionRejected as rejected:
        log.outcome = refused_outcome(f"assertion {rejected.reason}")
        attempt = await services.failure_limiter.reserve(UNREADABLE_ASSERTION, address)
        wait = await attempt.failed()
        if wait is not None:
            raise TooManyFailures(wait) from None
        raise
    return assertion if assertion is not None else extract_credentials(request, form)


async def _authenticate(services: Services, presented: ClientAssertion | ClientCredentials, address: str,
                        log: _TokenLog) -> Client:
    """The client, once its credentials check out; an attempt is reserved against the failure limits before
    the first await and a failure counts (429 once over the limit)."""
    attempt = await services.failure_limiter.reserve(presented.client_id, address)
    try:
        if isinstance(presented, ClientAssertion):
            return await services.assertion_authenticator.authenticate(presented)
        return await services.client_authenticator.authenticate(presented)
    except AuthenticationFailed as failed:
        wait = await attempt.failed(known_client=failed.guessed_a_client)
        log.outcome = refused_outcome(failed.reason, over_the_limit=wait is not None)
        if wait is not None:
            raise TooManyFailures(wait) from None
        basic = isinstance(presented, ClientCredentials) and presented.used_basic
        if failed.description is not None:
            raise InvalidClient(failed.description, basic=basic) from None
        raise InvalidClient(basic=basic) from None
    finally:
        attempt.release()


async def jwks_endpoint(request: Request, services: Services) -> Response:
    """GET /oauth2/jwks: the public signing keys (RFC 7517 §5), cacheable briefly."""
    if request.method not in ("GET", "HEAD"):
        return MethodNotAllowed("GET").response()
    try:
        jwks = await services.key_ring.jwks()
    except StoreUnavailable:
        return ServiceUnavailable().response()
    response = json_response(200, jwks, content_type="application/jwk-set+json",
                             headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"})
    if request.method == "HEAD":
        response.body = b""
    return response


def authorize_endpoint(request: Request) -> Response:
    """/oauth2/authorize: no user-facing grant exists; answer the error directly, never redirect."""
    return UnsupportedResponseType(
        "this server supports only the client_credentials grant at the token endpoint").response()


async def respond(request: Request, services: Services) -> Response:
    """Dispatch on the route's ``endpoint`` parameter."""
    endpoint = request.route_params.get("endpoint", "")
    if endpoint == "token":
        return await token_endpoint(request, services)
    if endpoint == "jwks":
        return await jwks_endpoint(request, services)
    if endpoint == "provider-jwks":
        from gateway.oauth.provider_jwks import provider_jwks_endpoint

        return await provider_jwks_endpoint(request, services)
    if endpoint == "authorize":
        return authorize_endpoint(request)
    return json_response(404, {"error": "not_found", "error_description": "no such OAuth endpoint"},
                         headers=NO_STORE)


def _answer_early(request: Request, settings: Settings) -> Response | None:
    """The authorize stub needs no stores."""
    return authorize_endpoint(request) if request.route_params.get("endpoint") == "authorize" else None


def render_failure(failure: Failure, request: Request, settings: Settings | None) -> Response:
    """Start-up and store failures as RFC 6749 §5.2-shaped errors: 503 ``temporarily_unavailable`` with
    ``Retry-After``, or 500 ``server_error``."""
    return (ServiceUnavailable() if failure is Failure.UNAVAILABLE else ServerError()).response()


async def _respond(request: Request, services: Services, deadline: float) -> Response:
    return await respond(request, services)


handle = Surface("token", _respond, render_failure, answer_early=_answer_early, bounded=True)
"""token_fn's entry point. Bounded: a store that accepts connections but never answers gets the caller a 503
within STORE_TIMEOUT_SECONDS, a cold worker opening its stores included (each read has its own, shorter bound)."""
