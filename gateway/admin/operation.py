"""One admin operation as the table declares it (:class:`Operation`), and one call of it as its handler sees it
(:class:`Call`).

A row names everything about an operation once: its method and path, the resource it works on and the handler
that answers it, the audit action a refused attempt is recorded under, and what the OpenAPI document says of
it (operation id, summary, tag, body, parameters, responses). ``gateway.admin.table`` lists the rows; the
endpoint dispatches by them, and ``gateway.admin.openapi`` documents them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from gateway.admin.actor import Actor
from gateway.admin.schema import Validator
from gateway.clock import Clock
from gateway.config import Settings
from gateway.http import Request, Response

R = TypeVar("R")

TARGET_ID = re.compile(r"[0-9a-fA-F-]{1,64}")
"""The shape of a target a refused change is recorded under (a tenant or client GUID, a secret id)."""


@dataclass(frozen=True)
class Call:
    """One admin request to an operation: the request, the caller, the path's parameters by name, and what the
    handlers share (the settings, the clock, the validator of request bodies)."""

    request: Request
    actor: Actor
    params: Mapping[str, str]
    settings: Settings
    clock: Clock
    validator: Validator

    def now(self) -> datetime:
        return self.clock.now()


@dataclass(frozen=True)
class Audited:
    """A change: a refused attempt is recorded under ``action`` on ``target_type``, its target the first path
    parameter when it has the ``target`` shape (else ``(invalid)``)."""

    action: str
    target_type: str
    target: re.Pattern[str] = TARGET_ID


@dataclass(frozen=True)
class Operation(Generic[R]):
    """One row of the admin table: ``handler(call, resource)`` answers ``method`` on ``path``
    (``/manage/routes/{tenantId}``), ``resource`` being the worker's instance of the ``resource`` class."""

    method: str
    path: str
    resource: type[R]
    handler: Callable[[Call, R], Awaitable[Response]]
    operation_id: str
    summary: str
    tag: str
    responses: Mapping[str, Any]
    """The success responses (OpenAPI); the error responses are the common ones and :attr:`errors`."""
    errors: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    """Query and header parameters (components of ``gateway.admin.openapi_parts.PARAMETERS``)."""
    body: str | None = None
    """The component schema a JSON request body must match."""
    audit: Audited | None = None
    segments: tuple[str, ...] = field(init=False, repr=False)
    """The path after ``/manage/``, a ``{name}`` segment matching any one segment."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.path.removeprefix("/manage/").split("/")))

    def matches(self, segments: list[str]) -> dict[str, str] | None:
        """The path's parameters when ``segments`` (a request's path after ``/manage/``) is this path, else None."""
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.segments, segments, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params

    def audit_target(self, params: Mapping[str, str]) -> str:
        """The target a refused attempt of this change is recorded under (its first path parameter)."""
        target = next(iter(params.values()), "")
        if not target:
            return ""
        assert self.audit is not None
        return target.lower() if self.audit.target.fullmatch(target) else "(invalid)"
