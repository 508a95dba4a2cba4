"""``admin_fn``: dispatch ``/manage/{*path}`` by the admin table (``gateway.admin.table``).

The Functions host checks the function key first (401 without it). Here: the Entra ID access token when
configured (401 / 403, audited), method and path dispatch by the table (404 / 405 with ``Allow``), then the
operation's handler with its resource, answered within ``STORE_TIMEOUT_SECONDS`` (503 + ``Retry-After`` when
a store hangs). A refused change is audited under the action its row names. Every error is problem+json; an
unexpected exception becomes a bare 500 problem that reveals nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from gateway.admin.access import AccessRefused, AdminAccess, key_actor
from gateway.admin.actor import Actor
from gateway.admin.api import AdminApi
from gateway.admin.attempts import TimedOut, run_later, run_within
from gateway.admin.openapi import schema_root
from gateway.admin.operation import Call
from gateway.admin.problems import Problem, not_found, problem_response, timed_out, unavailable
from gateway.admin.schema import Validator
from gateway.admin.table import change_of, matching
from gateway.http import Request, Response
from gateway.stores.errors import StoreUnavailable

logger = logging.getLogger("gateway.admin")

MIN_AUDIT_WAIT_SECONDS = 0.25  # a refusal's audit record gets at least this long before it goes to the background
_VALIDATOR = Validator(schema_root())


def _segments(request: Request) -> list[str]:
    path = request.route_params.get("path")
    if path is None:
        path = request.path.split("/manage/", 1)[1] if "/manage/" in request.path else ""
    return [s for s in path.split("/") if s]


class AdminEndpoint:
    """admin_fn's handler: ``access`` decides who calls, ``api`` holds the resources the handlers use; store work
    is bounded by ``store_timeout`` seconds (STORE_TIMEOUT_SECONDS)."""

    def __init__(self, api: AdminApi, access: AdminAccess, *, store_timeout: float) -> None:
        self._api = api
        self._access = access
        self._store_timeout = store_timeout

    async def dispatch(self, request: Request, *, deadline: float | None = None) -> Response:
        """Handle one admin request.

        ``deadline`` (event-loop time) ends the STORE_TIMEOUT_SECONDS bound; default: that long from now."""
        segments = _segments(request)
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + self._store_timeout
        actor = key_actor(request)
        api = self._api
        try:
            try:
                actor = await self._access.authorize(request)
            except AccessRefused as refused:
                action, target_type, target_id = (change_of(request.method.upper(), segments)
                                                  or ("admin.access", "admin", ""))
                record = partial(self._access.audit_refusal, refused, action, target_type, target_id)
                await _within_deadline(request, deadline, record)
                return problem_response(refused, request.request_id)
            found = matching(segments)
            if found is None:
                raise not_found("No such admin resource.")
            operations, params = found
            operation = next((op for op in operations if op.method == request.method.upper()), None)
            if operation is None:
                allow = ", ".join(sorted(op.method for op in operations))
                raise Problem(405, "method-not-allowed", f"Use one of: {allow}.", headers={"Allow": allow})
            call = Call(request, actor, params, api.settings, api.clock, _VALIDATOR)
            resource = api.resource(operation.resource)
            # Bounded: a store that hangs gets the caller a 503 within STORE_TIMEOUT_SECONDS (gateway.admin.attempts).
            return await run_within(max(deadline - loop.time(), 0.01), lambda: operation.handler(call, resource))
        except TimedOut:
            # The audit table may be the store that hangs: the refusal is recorded without holding up the answer.
            run_later(self._audit_refusal(request, actor, segments, 503, "store-timeout"))
            return problem_response(timed_out(), request.request_id)
        except Problem as problem:
            if not problem.audited:
                await self._audit_refusal(request, actor, segments, problem.status, problem.slug, deadline=deadline)
            return problem_response(problem, request.request_id)
        except StoreUnavailable:
            await self._audit_refusal(request, actor, segments, 503, "unavailable", deadline=deadline)
            return problem_response(unavailable(), request.request_id)
        except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
            logger.error("admin request failed request_id=%s type=%s", request.request_id, type(exc).__name__)
            return problem_response(Problem(500, "internal", "The request failed unexpectedly."), request.request_id)

    async def _audit_refusal(self, request: Request, actor: Actor, segments: list[str], status: int, reason: str, *,
                             deadline: float | None = None) -> None:
        """Record a refused change attempt; with ``deadline`` (loop time), wait for the audit table only until then
        (a hung table must not hold the answer: the record is written in the background when it answers)."""
        change = change_of(request.method.upper(), segments)
        if change is None:
            return
        action, target_type, target_id = change

        def record() -> Awaitable[None]:
            return self._api.audit.refusal(actor, action, target_type, target_id, status, reason)

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
