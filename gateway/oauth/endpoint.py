"""token_fn: ``/oauth2/token`` (RFC 6749 §4.4, §5), ``/oauth2/jwks`` (RFC 7517), ``/oauth2/provider-jwks``
(``gateway.oauth.provider_jwks``) and ``/oauth2/authorize``.

The token endpoint authenticates the client by a secret (``gateway.oauth.authentication``) or by a
signed assertion, ``private_key_jwt`` (RFC 7523 §2.2, ``gateway.oauth.assertion_auth``); either
way an attempt is reserved against the failure limits before the first await and a failure is
counted (``gateway.oauth.rate_limit``). An assertion whose issuer cannot be read counts against
the source address.

The route is ``oauth2/{endpoint:regex(^(token|jwks|provider-jwks|authorize)$)}``; :func:`handle`
dispatches on ``route_params["endpoint"]``. Only the client credentials grant
exists, so the authorization endpoint always answers ``unsupported_response_type``
itself (§4.1.2.1: it never redirects, there being no registered redirect URI).

One log line per token request: client id, tenant, outcome, status, duration.
Never the secret, the Authorization header, the body or the token.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from gateway import telemetry
from gateway.config import current_settings
from gateway.http import Request, Response, json_response
from gateway.oauth.assertion_auth import assertion_authenticator
from gateway.oauth.authentication import AuthenticationFailed, client_authenticator
from gateway.oauth.client_assertion import AssertionRejected, read_client_assertion
from gateway.oauth.client_auth import extract_credentials
from gateway.oauth.errors import (
    NO_STORE,
    InvalidClient,
    InvalidRequest,
    MethodNotAllowed,
    OAuthError,
    ServiceUnavailable,
    TooManyFailures,
    UnsupportedGrantType,
    UnsupportedResponseType,
)
from gateway.oauth.form import parse_form
from gateway.oauth.grant import GRANT_TYPE, client_credentials_grant
from gateway.oauth.rate_limit import failure_limiter, source_address
from gateway.services import Services, current_services
from gateway.stores.errors import StoreError, StoreUnavailable
from gateway.tokens.keyring import key_ring

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


async def token_endpoint(request: Request, services: Services) -> Response:
    """POST /oauth2/token: the client credentials grant, authenticated by a secret or a signed assertion."""
    started = time.perf_counter()
    client_id: str | None = None
    tenant = "-"
    outcome = "issued"
    try:
        if request.method != "POST":
            raise MethodNotAllowed("POST")
        form = parse_form(request)
        limiter = failure_limiter(services)
        address = source_address(request)
        try:
            assertion = read_client_assertion(form, authorization_header=bool(request.headers.get_all("authorization")))
        except AssertionRejected as rejected:  # no readable issuer: counted against the address
            outcome = f"invalid_client (assertion {rejected.reason})"
            attempt = await limiter.reserve(UNREADABLE_ASSERTION, address)
            wait = await attempt.failed()
            if wait is not None:
                raise TooManyFailures(wait) from None
            raise
        credentials = None
        if assertion is not None:
            client_id = assertion.client_id
        else:
            credentials = extract_credentials(request, form)
            client_id = credentials.client_id
        grant_type = form.get("grant_type")
        if grant_type is None:
            hint = " ('grant-type' is not an OAuth parameter)" if "grant-type" in form else ""
            raise InvalidRequest(f"missing grant_type parameter{hint}; use grant_type=client_credentials")
        if grant_type != GRANT_TYPE:
            raise UnsupportedGrantType("only grant_type=client_credentials is supported")
        attempt = await limiter.reserve(client_id, address)
        try:
            if assertion is not None:
                client = await assertion_authenticator(services).authenticate(assertion)
            else:
                assert credentials is not None  # read above whenever there is no assertion
                client = await client_authenticator(services).authenticate(credentials)
        except AuthenticationFailed as failed:
            wait = await attempt.failed()
            outcome = f"invalid_client ({failed.reason})" + (" over the limit" if wait is not None else "")
            if wait is not None:
                raise TooManyFailures(wait) from None
            basic = credentials is not None and credentials.used_basic
            if failed.description is not None:
                raise InvalidClient(failed.description, basic=basic) from None
            raise InvalidClient(basic=basic) from None
        finally:
            attempt.release()
        issued = await client_credentials_grant(services, client, form.get("scope"))
        tenant = issued.claims.tenant_id
        response = json_response(200, {"access_token": issued.access_token, "token_type": issued.token_type,
                                       "expires_in": issued.expires_in, "scope": issued.scope}, headers=NO_STORE)
    except OAuthError as error:
        if outcome == "issued":
            outcome = error.error
        response = error.response()
    except StoreUnavailable:
        outcome = "store_unavailable"
        response = ServiceUnavailable().response()
    logger.info("token request client_id=%s tenant=%s outcome=%s status=%d duration_ms=%.2f request_id=%s",
                _loggable(client_id), tenant, outcome, response.status, (time.perf_counter() - started) * 1000,
                request.request_id)
    telemetry.token_finished(outcome, _loggable(client_id), tenant)
    return response


async def jwks_endpoint(request: Request, services: Services) -> Response:
    """GET /oauth2/jwks: the public signing keys (RFC 7517 §5), cacheable briefly."""
    if request.method not in ("GET", "HEAD"):
        return MethodNotAllowed("GET").response()
    try:
        jwks = await key_ring(services).jwks()
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


async def handle(request: Request) -> Response:
    """token_fn's entry point: this worker's services, then :func:`respond`."""
    endpoint = request.route_params.get("endpoint", "")
    if endpoint == "authorize":
        return authorize_endpoint(request)
    # A store that accepts connections but never answers: the whole request, a cold worker opening its stores
    # included, is answered within STORE_TIMEOUT_SECONDS (each read has its own, shorter bound too).
    try:
        async with asyncio.timeout(current_settings().store_timeout_seconds):
            try:
                services = await current_services()
            except StoreError:
                logger.error("token service: stores unavailable at start request_id=%s", request.request_id)
                return ServiceUnavailable().response()
            return await respond(request, services)
    except TimeoutError:
        logger.error("token service: stores did not answer in time request_id=%s", request.request_id)
        return ServiceUnavailable().response()
