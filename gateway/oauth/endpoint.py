"""token_fn: ``/oauth2/token`` (RFC 6749 §4.4, §5), ``/oauth2/jwks`` (RFC 7517), ``/oauth2/provider-jwks``
(``gateway.oauth.provider_jwks``) and ``/oauth2/authorize``.

The token endpoint (:class:`TokenEndpoint`) reads what the client presents by exactly one registered
method and checks it (``gateway.oauth.client_auth``: a secret, or a signed assertion, RFC 7523 §2.2);
either way an attempt is reserved against the failure limits before the first await and a failure is
counted (``gateway.oauth.rate_limit``). An assertion whose issuer cannot be read counts against
the source address.

The route is ``oauth2/{endpoint:regex(^(token|jwks|provider-jwks|authorize)$)}``; :class:`OAuthEndpoints`
dispatches on ``route_params["endpoint"]``, behind the entry adapter (``gateway.surfaces.token``). Only the
client credentials grant exists, so the authorization endpoint always answers ``unsupported_response_type``
itself (``gateway.oauth.authorize``).

One log line per token request: client id, tenant, outcome, status, duration.
Never the secret, the Authorization header, the body or the token.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway import telemetry
from gateway.http import Handler, Request, Response, json_response
from gateway.oauth.authentication import AuthenticationFailed
from gateway.oauth.authorize import authorize_endpoint
from gateway.oauth.client_assertion import AssertionRejected, ClientAssertion
from gateway.oauth.client_auth import ClientAuthentication, ClientCredentials, presented_credentials
from gateway.oauth.errors import (
    NO_STORE,
    InvalidClient,
    InvalidRequest,
    MethodNotAllowed,
    OAuthError,
    ServiceUnavailable,
    TooManyFailures,
    UnsupportedGrantType,
)
from gateway.oauth.form import parse_form
from gateway.oauth.grant import GRANT_TYPE, ClientCredentialsGrant
from gateway.oauth.jwk_set import jwk_set_response
from gateway.oauth.rate_limit import Attempt, source_address
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


class FailureLimits(Protocol):
    """The failure limiter (``gateway.oauth.rate_limit.FailureLimiter``)."""

    async def reserve(self, client_id: str, address: str) -> Attempt: ...


class PublishedKeys(Protocol):
    """The token signing keys' JWK Set (``gateway.tokens.keyring.KeyRing``)."""

    async def jwks(self) -> dict[str, Any]: ...


class TokenEndpoint:
    """POST /oauth2/token: the client credentials grant, authenticated by a secret or a signed assertion.

    ``authentication`` checks the client, ``limits`` counts its failures, ``grant`` issues the token and
    ``after_request`` runs once the request is answered (the worker's housekeeping)."""

    def __init__(self, *, authentication: ClientAuthentication, limits: FailureLimits, grant: ClientCredentialsGrant,
                 after_request: Callable[[], None]) -> None:
        self._authentication = authentication
        self._limits = limits
        self._grant = grant
        self._after_request = after_request

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        log = _TokenLog()
        try:
            response = await self._issue(request, log)
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
        self._after_request()
        return response

    async def _issue(self, request: Request, log: _TokenLog) -> Response:
        """The stages in order: the form, the grant type, who is asking, authentication, the grant (§4.4.2).

        The grant type comes before the client's credentials: a request for a grant this server does not offer
        (RFC 7523's ``jwt-bearer``, ``password``) is ``unsupported_grant_type`` whatever it carries, and neither
        authenticates anyone nor counts toward the failure limits."""
        if request.method != "POST":
            raise MethodNotAllowed("POST")
        form = parse_form(request)
        _check_grant_type(form)
        address = source_address(request)
        presented = await self._presented(request, form, address, log)
        log.client_id = presented.client_id
        client = await self._authenticate(presented, address, log)
        issued = await self._grant.issue(client, form.get("scope"))
        log.tenant = issued.claims.tenant_id
        return json_response(200, {"access_token": issued.access_token, "token_type": issued.token_type,
                                   "expires_in": issued.expires_in, "scope": issued.scope}, headers=NO_STORE)

    async def _presented(self, request: Request, form: dict[str, str], address: str,
                         log: _TokenLog) -> ClientAssertion | ClientCredentials:
        """What the client presents (``gateway.oauth.client_auth``). An assertion without a readable issuer is a
        failure counted against the source address."""
        try:
            return presented_credentials(request, form)
        except AssertionRejected as rejected:
            log.outcome = refused_outcome(f"assertion {rejected.reason}")
            attempt = await self._limits.reserve(UNREADABLE_ASSERTION, address)
            wait = await attempt.failed()
            if wait is not None:
                raise TooManyFailures(wait) from None
            raise

    async def _authenticate(self, presented: ClientAssertion | ClientCredentials, address: str,
                            log: _TokenLog) -> Client:
        """The client, once its credentials check out; an attempt is reserved against the failure limits before
        the first await and a failure counts (429 once over the limit)."""
        attempt = await self._limits.reserve(presented.client_id, address)
        try:
            return await self._authentication.authenticate(presented)
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


def _check_grant_type(form: dict[str, str]) -> None:
    """RFC 6749 §4.4.2: ``grant_type`` must be ``client_credentials`` (§5.2 ``unsupported_grant_type`` otherwise)."""
    grant_type = form.get("grant_type")
    if grant_type is None:
        hint = " ('grant-type' is not an OAuth parameter)" if "grant-type" in form else ""
        raise InvalidRequest(f"missing grant_type parameter{hint}; use grant_type=client_credentials")
    if grant_type != GRANT_TYPE:
        raise UnsupportedGrantType("only grant_type=client_credentials is supported")


class JwksEndpoint:
    """GET /oauth2/jwks: the public signing keys of ``keys`` (RFC 7517 §5), cacheable briefly."""

    def __init__(self, keys: PublishedKeys) -> None:
        self._keys = keys

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return MethodNotAllowed("GET").response()
        try:
            jwks = await self._keys.jwks()
        except StoreUnavailable:
            return ServiceUnavailable().response()
        return jwk_set_response(request, jwks, max_age=JWKS_MAX_AGE_SECONDS)


class OAuthEndpoints:
    """token_fn's routes, by the route's ``endpoint`` parameter: each handler is given its part on first use."""

    def __init__(self, *, token: Callable[[], Handler], jwks: Callable[[], Handler],
                 provider_jwks: Callable[[], Handler]) -> None:
        self._builders = {"token": token, "jwks": jwks, "provider-jwks": provider_jwks}
        self._handlers: dict[str, Handler] = {}

    async def respond(self, request: Request) -> Response:
        endpoint = request.route_params.get("endpoint", "")
        handler = self._handlers.get(endpoint)
        if handler is None:
            if endpoint == "authorize":
                return authorize_endpoint(request)
            build = self._builders.get(endpoint)
            if build is None:
                return json_response(404, {"error": "not_found", "error_description": "no such OAuth endpoint"},
                                     headers=NO_STORE)
            handler = self._handlers[endpoint] = build()
        return await handler(request)
