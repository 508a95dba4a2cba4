"""``admin_fn``: dispatch ``/manage/{*path}`` to the admin handlers.

The Functions host checks the function key first (401 without it). Here:
the Entra ID access token when configured (401 / 403, audited), method and path dispatch (404 / 405 with
``Allow``), then the handler, answered within ``STORE_TIMEOUT_SECONDS``
(503 + ``Retry-After`` when a store hangs). Every error is problem+json; an
unexpected exception becomes a bare 500 problem that reveals nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial

from gateway.admin import handlers as h
from gateway.admin import provider_keys
from gateway.admin.access import AccessRefused, Actor, audit_access_refusal, authorize, key_actor
from gateway.admin.attempts import TimedOut, run_later, run_within
from gateway.admin.audit_trail import audit_refusal
from gateway.admin.openapi import PROVIDER_KEY_PATTERN
from gateway.admin.problems import Problem, not_found, problem_response, timed_out, unavailable
from gateway.config import Settings
from gateway.entry import Failure, Surface
from gateway.http import Request, Response
from gateway.services import Services
from gateway.stores.errors import StoreUnavailable

logger = logging.getLogger("gateway.admin")

HandlerFn = Callable[..., Awaitable[Response]]
MIN_AUDIT_WAIT_SECONDS = 0.25  # a refusal's audit record gets at least this long before it goes to the background

# (path pattern, {method: handler}); "{}" matches one segment, passed to the handler in order.
ROUTES: tuple[tuple[tuple[str, ...], dict[str, HandlerFn]], ...] = (
    (("routes",), {"GET": h.list_routes}),
    (("routes", "{}"), {"GET": h.get_route, "PUT": h.put_route, "DELETE": h.delete_route}),
    (("clients",), {"GET": h.list_clients, "POST": h.create_client}),
    (("clients", "{}"), {"GET": h.get_client, "PATCH": h.update_client, "DELETE": h.delete_client}),
    (("clients", "{}", "secrets"), {"POST": h.add_secret}),
    (("clients", "{}", "secrets", "{}"), {"DELETE": h.revoke_secret}),
    (("signing-keys",), {"GET": h.list_signing_keys, "POST": h.rotate_signing_key}),
    (("provider-keys",), {"GET": provider_keys.list_provider_keys}),
    (("provider-keys", "{}", "rotate"), {"POST": provider_keys.rotate_provider_key}),
    (("audit",), {"GET": h.list_audit}),
    (("ensure",), {"POST": h.ensure}),
    (("openapi.json",), {"GET": h.get_openapi}),
)


def _segments(request: Request) -> list[str]:
    path = request.route_params.get("path")
    if path is None:
        path = request.path.split("/manage/", 1)[1] if "/manage/" in request.path else ""
    return [s for s in path.split("/") if s]


def match(segments: list[str]) -> tuple[dict[str, HandlerFn], list[str]] | None:
    """The method table and path arguments for ``segments``, or None."""
    for pattern, methods in ROUTES:
        if len(pattern) != len(segments):
            continue
        args: list[str] = []
        for want, got in zip(pattern, segments, strict=True):
            if want == "{}":
                args.append(got)
            elif want != got:
                break
        else:
            return methods, args
    return None


# Audit names of the changes, by (method, path pattern): refused attempts are recorded too.
CHANGES: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {
    ("PUT", ("routes", "{}")): ("route.put", "route"),
    ("DELETE", ("routes", "{}")): ("route.delete", "route"),
    ("POST", ("clients",)): ("client.create", "client"),
    ("PATCH", ("clients", "{}")): ("client.update", "client"),
    ("DELETE", ("clients", "{}")): ("client.delete", "client"),
    ("POST", ("clients", "{}", "secrets")): ("secret.add", "client"),
    ("DELETE", ("clients", "{}", "secrets", "{}")): ("secret.revoke", "client"),
    ("POST", ("signing-keys",)): ("signing-key.rotate", "signing-key"),
    ("POST", ("ensure",)): ("deployment.ensure", "deployment"),
    ("POST", ("provider-keys", "{}", "rotate")): ("provider-key.rotate", "provider-key"),
}
_ID = re.compile(r"[0-9a-fA-F-]{1,64}")
_PROVIDER_KEY = re.compile(PROVIDER_KEY_PATTERN)


def _change_of(request: Request, segments: list[str]) -> tuple[str, str, str] | None:
    """(action, target type, target id) when the request is an attempted change."""
    for (method, pattern), (action, target_type) in CHANGES.items():
        if method != request.method.upper() or len(pattern) != len(segments):
            continue
        if all(want == "{}" or want == got for want, got in zip(pattern, segments, strict=True)):
            target = segments[1] if len(segments) > 1 else ""
            named = _ID.fullmatch(target) or (pattern[0] == "provider-keys" and _PROVIDER_KEY.fullmatch(target))
            return action, target_type, target.lower() if named else ("(invalid)" if target else "")
    return None


async def dispatch(request: Request, services: Services, *, deadline: float | None = None) -> Response:
    """Handle one admin request with the given services (tests call this directly).

    ``deadline`` (event-loop time) ends the STORE_TIMEOUT_SECONDS bound; default: that long from now."""
    segments = _segments(request)
    loop = asyncio.get_running_loop()
    if deadline is None:
        deadline = loop.time() + services.settings.store_timeout_seconds
    actor = key_actor(request)
    try:
        try:
            actor = await authorize(request, services)
        except AccessRefused as refused:
            action, target_type, target_id = _change_of(request, segments) or ("admin.access", "admin", "")
            record = partial(audit_access_refusal, services, refused, action, target_type, target_id)
            await _within_deadline(request, deadline, record)
            return problem_response(refused, request.request_id)
        found = match(segments)
        if found is None:
            raise not_found("No such admin resource.")
        methods, args = found
        handler = methods.get(request.method.upper())
        if handler is None:
            allow = ", ".join(sorted(methods))
            raise Problem(405, "method-not-allowed", f"Use one of: {allow}.", headers={"Allow": allow})
        # Bounded: a store that hangs gets the caller a 503 within STORE_TIMEOUT_SECONDS (gateway.admin.attempts).
        return await run_within(max(deadline - loop.time(), 0.01), lambda: handler(request, services, actor, *args))
    except TimedOut:
        # The audit table may be the store that hangs: the refusal is recorded without holding up the answer.
        run_later(_audit_refusal(request, services, actor, segments, 503, "store-timeout"))
        return problem_response(timed_out(), request.request_id)
    except Problem as problem:
        if not problem.audited:
            await _audit_refusal(request, services, actor, segments, problem.status, problem.slug, deadline=deadline)
        return problem_response(problem, request.request_id)
    except StoreUnavailable:
        await _audit_refusal(request, services, actor, segments, 503, "unavailable", deadline=deadline)
        return problem_response(unavailable(), request.request_id)
    except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
        logger.error("admin request failed request_id=%s type=%s", request.request_id, type(exc).__name__)
        return problem_response(Problem(500, "internal", "The request failed unexpectedly."), request.request_id)


async def _audit_refusal(request: Request, services: Services, actor: Actor, segments: list[str], status: int,
                         reason: str, *, deadline: float | None = None) -> None:
    """Record a refused change attempt; with ``deadline`` (loop time), wait for the audit table only until then
    (a hung table must not hold the answer: the record is written in the background when it answers)."""
    change = _change_of(request, segments)
    if change is None:
        return
    action, target_type, target_id = change

    def record() -> Awaitable[None]:
        return audit_refusal(services, actor, action, target_type, target_id, status, reason)

    if deadline is None:
        await record()
        return
    await _within_deadline(request, deadline, record)


async def _within_deadline(request: Request, deadline: float, record: Callable[[], Awaitable[None]]) -> None:
    """Wait for an audit write only until ``deadline`` (loop time), at least ``MIN_AUDIT_WAIT_SECONDS``; a hung
    audit table must not hold the answer (the record is written in the background when it answers)."""
    try:
        await run_within(max(deadline - asyncio.get_running_loop().time(), MIN_AUDIT_WAIT_SECONDS), record)
    except TimedOut:
        logger.warning("refusal audit pending: the audit table did not answer in time request_id=%s",
                       request.request_id)


def render_failure(failure: Failure, request: Request, settings: Settings | None) -> Response:
    """Start-up and store failures as problem details: 503 with ``Retry-After``, or 500."""
    if failure is Failure.UNAVAILABLE:
        problem = unavailable("The admin API cannot reach its stores; retry later.")
    elif failure is Failure.MISCONFIGURED:
        problem = Problem(500, "misconfigured", "The gateway is not configured correctly; see its logs.")
    else:
        problem = Problem(500, "internal", "The request failed unexpectedly.")
    return problem_response(problem, request.request_id)


async def _respond(request: Request, services: Services, deadline: float) -> Response:
    return await dispatch(request, services, deadline=deadline)


handle = Surface("admin", _respond, render_failure)
"""admin_fn's entry point: a cold worker's store opening counts toward the request's STORE_TIMEOUT_SECONDS."""
