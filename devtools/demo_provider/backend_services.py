"""SMART Backend Services mode: the demo provider's own token endpoint and its bearer-token check.

Off by default. When on, the FHIR endpoints (except ``metadata`` and
``.well-known/smart-configuration``) demand ``Authorization: Bearer <token>``
(RFC 6750 §2.1) with a token from ``<base>/auth/token``, which implements the
client-credentials grant of SMART App Launch 2.x "Backend Services":
``grant_type=client_credentials``, ``client_assertion_type=urn:ietf:params:
oauth:client-assertion-type:jwt-bearer``, ``client_assertion=<JWT>`` (verified
by :mod:`devtools.demo_provider.assertions`) and ``scope`` (granted by
:mod:`devtools.demo_provider.scopes`). Tokens are opaque, random, kept in memory
as their SHA-256 only, and expire after ``token_lifetime_seconds``. Errors are
RFC 6749 §5.2 JSON with ``Cache-Control: no-store``; bearer failures are
RFC 6750 §3 challenges.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from multidict import MultiMapping

from devtools.demo_provider import scopes
from devtools.demo_provider.assertions import (
    ALGORITHMS,
    ASSERTION_TYPE,
    AssertionRejected,
    AssertionVerifier,
    JwksCache,
    ReplayCache,
)

TOKEN_PATH = "/auth/token"
FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
REALM = "demo-provider"
MAX_TOKENS = 10_000
SCOPES_SUPPORTED = ("system/*.rs", "system/*.read", "system/Patient.rs", "system/Observation.rs")

logger = logging.getLogger("devtools.demo_provider.backend_services")


@dataclass(frozen=True)
class BackendServicesConfig:
    """Registered clients (client id -> JWKS URL) and token and JWKS timings."""

    clients: Mapping[str, str]
    token_lifetime_seconds: int = 300
    jwks_refetch_seconds: float = 5.0


@dataclass(frozen=True)
class Grant:
    """What a valid access token lets its client do, until ``expires_at`` (Unix seconds)."""

    client_id: str
    scopes: tuple[scopes.Scope, ...]
    expires_at: float

    def allows(self, resource_type: str, interaction: str) -> bool:
        return scopes.allows(self.scopes, resource_type, interaction)


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response; the description is a fixed text or names a scope, never a secret."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def response(self) -> web.Response:
        return web.json_response({"error": self.error, "error_description": self.description},
                                 status=self.status, headers=NO_STORE)


class BearerRejected(Exception):
    """No usable bearer token (RFC 6750 §3): ``invalid_token`` when one was given."""

    def __init__(self, message: str, *, token_given: bool) -> None:
        super().__init__(message)
        self.message, self.token_given = message, token_given

    def challenge(self) -> str:
        if self.token_given:
            return f'Bearer realm="{REALM}", error="invalid_token", error_description="{self.message}"'
        return f'Bearer realm="{REALM}"'


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _single(form: MultiMapping[str], name: str) -> str | None:
    values = form.getall(name, [])
    if len(values) > 1:
        raise OAuthError("invalid_request", f"{name} must not be repeated (RFC 6749 §3.2)")
    return values[0] if values else None


class BackendServices:
    """The token endpoint and bearer check of one demo provider whose links start with ``base_url``."""

    def __init__(self, config: BackendServicesConfig, base_url: str, session: Callable[[], aiohttp.ClientSession],
                 *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.token_url = base_url.rstrip("/") + TOKEN_PATH
        self._clock = clock
        self.verifier = AssertionVerifier(config.clients, self.token_url,
                                          JwksCache(session, refetch_interval=config.jwks_refetch_seconds),
                                          ReplayCache(clock=clock), clock=clock)
        self._tokens: dict[bytes, Grant] = {}

    def discovery(self) -> dict[str, Any]:
        """``.well-known/smart-configuration`` (SMART App Launch 2.x §Conformance) for Backend Services."""
        return {
            "token_endpoint": self.token_url,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "scopes_supported": list(SCOPES_SUPPORTED),
            "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
        }

    async def token(self, form: MultiMapping[str]) -> web.Response:
        """Answer one token request (the form of a POST to the token endpoint)."""
        try:
            grant = await self._grant(form)
        except OAuthError as exc:
            return exc.response()
        token = secrets.token_urlsafe(32)
        self._remember(token, grant)
        body = {"access_token": token, "token_type": "bearer", "expires_in": self.config.token_lifetime_seconds,
                "scope": " ".join(s.text for s in grant.scopes)}
        return web.json_response(body, headers=NO_STORE)

    async def _grant(self, form: MultiMapping[str]) -> Grant:
        grant_type = _single(form, "grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            raise OAuthError("unsupported_grant_type", "only grant_type=client_credentials is supported")
        assertion_type, assertion = _single(form, "client_assertion_type"), _single(form, "client_assertion")
        if assertion_type != ASSERTION_TYPE or not assertion:
            raise OAuthError("invalid_request",
                             f"client_assertion_type={ASSERTION_TYPE} and a client_assertion are required")
        requested = _single(form, "scope")
        try:
            client_id = await self.verifier.verify(assertion, _single(form, "client_id"))
        except AssertionRejected as exc:
            logger.info("token request refused: %s", exc)
            raise OAuthError("invalid_client", str(exc), 401) from None
        try:
            granted = scopes.grant(requested)
        except scopes.ScopeError as exc:
            raise OAuthError("invalid_scope", str(exc)) from None
        return Grant(client_id, granted, self._clock() + self.config.token_lifetime_seconds)

    def _remember(self, token: str, grant: Grant) -> None:
        if len(self._tokens) >= MAX_TOKENS:
            now = self._clock()
            self._tokens = {k: g for k, g in self._tokens.items() if g.expires_at > now}
            while len(self._tokens) >= MAX_TOKENS:
                self._tokens.pop(next(iter(self._tokens)))
        self._tokens[_digest(token)] = grant

    def authenticate(self, authorization: str | None) -> Grant:
        """The grant of the request's bearer token, or :class:`BearerRejected`."""
        if not authorization:
            raise BearerRejected("an access token is required", token_given=False)
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise BearerRejected("an access token is required", token_given=False)
        grant = self._tokens.get(_digest(token))
        if grant is None:
            raise BearerRejected("the access token is not valid", token_given=True)
        if grant.expires_at <= self._clock():
            self._tokens.pop(_digest(token), None)
            raise BearerRejected("the access token has expired", token_given=True)
        return grant
