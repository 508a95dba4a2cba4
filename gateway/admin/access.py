"""Who is calling the admin API: the function key the host accepted and, when configured, an Entra ID token.

The Functions host has already checked the function key (``authLevel:
function``) before this code runs. When ``ADMIN_AUTH_AUDIENCE`` is set, the
caller must also send ``Authorization: Bearer <Entra ID access token>``, which
the app verifies itself (:mod:`gateway.admin.entra`): 401 with
``WWW-Authenticate: Bearer`` (RFC 6750 §3) when it is missing or not valid,
403 when it lacks ``ADMIN_REQUIRED_ROLE``. No header a caller can set names the
caller: ``X-MS-CLIENT-PRINCIPAL`` and its kind are never read.

The audit actor is the verified Entra identity, else the fingerprint of the
function key the host accepted, chosen by the host's own rule
(:func:`accepted_function_key`). Refused sign-ins are audited without the
token, at most :data:`REFUSAL_BURST` records per minute per worker (the rest
are counted in the next record), so a key holder cannot flood the audit table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from gateway.admin.actor import Actor
from gateway.admin.audit_trail import AuditTrail
from gateway.admin.entra import EntraVerifier, IssuerUnavailable, RoleMissing, TokenRejected, bearer_token
from gateway.admin.problems import RETRY_AFTER_SECONDS, Problem
from gateway.clock import Clock
from gateway.http import Request

logger = logging.getLogger("gateway.admin")

FUNCTION_KEY_HEADER = "x-functions-key"
CODE_PARAMETER = "code"
REFUSAL_BURST = 30
REFUSAL_WINDOW_SECONDS = 60.0


DETAILS = {
    "missing-token": "An Entra ID access token is required: send Authorization: Bearer <token>.",
    "malformed-token": "The bearer token is not a well-formed JWT.",
    "algorithm": "The bearer token is not signed with RS256.",
    "unknown-key": "The bearer token is not signed with a key of the configured Entra ID tenant.",
    "bad-signature": "The bearer token's signature is not valid.",
    "wrong-issuer": "The bearer token was not issued by the configured Entra ID tenant (v2.0 issuer).",
    "wrong-audience": "The bearer token is not meant for this admin API (aud).",
    "expired": "The bearer token has expired.",
    "not-yet-valid": "The bearer token is not valid yet (nbf).",
    "missing-claim": "The bearer token lacks a required claim.",
}


def accepted_function_key(request: Request) -> str | None:
    """The function key the Functions host checked, by the host's rule (``AuthenticationLevelHandler``).

    The ``x-functions-key`` header wins when present at all, and of repeated headers the first
    (``StringValues.First()``); the worker receives them joined with ``,`` so the first is the text
    before the first comma (function keys are base64/base64url text, never a comma). Without the
    header, the first ``code`` query parameter, its name compared case-insensitively as ASP.NET Core's
    query collection does (``?CODE=<key>&code=junk`` is the key).
    """
    values = request.headers.get_all(FUNCTION_KEY_HEADER)
    if values:
        return values[0].split(",", 1)[0].strip() or None
    for pair in request.raw_query.split("&"):
        name, _, value = pair.partition("=")
        if unquote_plus(name).lower() == CODE_PARAMETER:
            return unquote_plus(value) or None
    return None


def key_actor(request: Request) -> Actor:
    """The actor named by the accepted function key's fingerprint (never the key)."""
    return Actor.from_function_key(accepted_function_key(request), request.request_id, request.client_address)


class AccessRefused(Problem):
    """An admin request refused before any handler ran; ``reason`` (a fixed slug) goes to the audit trail."""

    def __init__(self, status: int, slug: str, detail: str, reason: str, actor: Actor,
                 headers: dict[str, str]) -> None:
        super().__init__(status, slug, detail, headers=headers)
        self.reason = reason
        self.actor = actor


def _unauthorized(request: Request, reason: str) -> AccessRefused:
    challenge = 'Bearer realm="gateway-admin"'
    if reason != "missing-token":  # RFC 6750 §3.1: no error code when no credentials were sent
        challenge += f', error="invalid_token", error_description="{DETAILS[reason]}"'
    return AccessRefused(401, "unauthorized", DETAILS[reason], reason, key_actor(request),
                         {"WWW-Authenticate": challenge})


@dataclass
class RefusalBudget:
    """A token bucket for refusal audit records: ``REFUSAL_BURST`` per ``REFUSAL_WINDOW_SECONDS`` per worker."""

    tokens: float = REFUSAL_BURST
    updated: float | None = None
    suppressed: int = 0

    def take(self, now: float) -> int | None:
        """None when this refusal is not recorded; else how many were skipped before it."""
        if self.updated is not None:
            self.tokens = min(REFUSAL_BURST, self.tokens + (now - self.updated) * REFUSAL_BURST
                              / REFUSAL_WINDOW_SECONDS)
        self.updated = now
        if self.tokens < 1:
            if not self.suppressed:
                logger.warning("admin refusals beyond %d per minute are counted, not recorded", REFUSAL_BURST)
            self.suppressed += 1
            return None
        self.tokens -= 1
        skipped, self.suppressed = self.suppressed, 0
        return skipped


class AdminAccess:
    """Who may call the admin API: the function key alone, or with ``entra_auth`` (ADMIN_AUTH_AUDIENCE set) also an
    Entra ID token checked by ``verifier`` (built on first use). Refused sign-ins go to ``audit`` within
    ``budget``."""

    def __init__(self, *, entra_auth: bool, verifier: Callable[[], EntraVerifier], budget: RefusalBudget,
                 audit: AuditTrail, clock: Clock) -> None:
        self._entra_auth = entra_auth
        self._verifier = verifier
        self._budget = budget
        self._audit = audit
        self._clock = clock

    async def authorize(self, request: Request) -> Actor:
        """The audit actor of this request; :class:`AccessRefused` (401 / 403 / 503) when it may not proceed."""
        if not self._entra_auth:
            return key_actor(request)
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise _unauthorized(request, "missing-token")
        try:
            identity = await self._verifier().verify(token)
        except TokenRejected as rejected:
            raise _unauthorized(request, rejected.reason) from None
        except RoleMissing as missing:
            actor = Actor(missing.identity.label[:256], request.request_id, request.client_address)
            raise AccessRefused(403, "forbidden", "The signed-in identity lacks the admin app role.",
                                "missing-role", actor,
                                {"WWW-Authenticate": 'Bearer realm="gateway-admin", error="insufficient_scope"'}
                                ) from None
        except IssuerUnavailable:
            raise AccessRefused(503, "unavailable", "The Entra ID signing keys cannot be fetched; retry later.",
                                "issuer-unavailable", key_actor(request),
                                {"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
        return Actor(identity.label[:256], request.request_id, request.client_address)

    async def audit_refusal(self, refused: AccessRefused, action: str, target_type: str, target_id: str) -> None:
        """Record a refused sign-in: actor, attempted action, status and reason; never the token."""
        skipped = self._budget.take(self._clock.monotonic())
        if skipped is None:
            return
        reason = refused.reason if not skipped else f"{refused.reason} (+{skipped} unrecorded)"
        await self._audit.refusal(refused.actor, action, target_type, target_id, refused.status, reason)
