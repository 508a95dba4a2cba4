"""Problem details for the admin API (RFC 9457, ``application/problem+json``).

Every admin error is a :class:`Problem`: handlers and operations raise it, the
endpoint renders it. ``detail`` and ``errors`` name fields, never the values a
caller sent (those may be secrets).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.http import Response, json_response

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:interop-gateway:problem:"

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class FieldError:
    """One invalid field: a JSON-pointer-like path (``allowedTenants/0``) and what is wrong."""

    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class Problem(Exception):
    """An admin API error, rendered as problem+json (RFC 9457 §3)."""

    status: int
    slug: str
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    audited: bool = False  # the operation already wrote the refusal's audit record (with its reason)

    def __str__(self) -> str:
        return f"{self.status} {self.slug}: {self.detail}"

    @property
    def title(self) -> str:
        return TITLES.get(self.status, "Error")

    def to_json(self, request_id: str | None = None) -> dict[str, object]:
        body: dict[str, object] = {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [e.to_json() for e in self.errors]
        if request_id:
            body["requestId"] = request_id
        return body


def problem_response(problem: Problem, request_id: str | None = None,
                     headers: Mapping[str, str] | None = None) -> Response:
    merged = {**problem.headers, **(headers or {})}
    return json_response(problem.status, problem.to_json(request_id), content_type=PROBLEM_MEDIA_TYPE,
                         headers=merged)


def validation_failed(errors: list[FieldError], *, status: int = 422) -> Problem:
    names = ", ".join(sorted({e.field or "(body)" for e in errors}))
    return Problem(status, "validation", f"The request is invalid: {names}.", errors)


def bad_request(detail: str, field_name: str | None = None) -> Problem:
    errors = [FieldError(field_name, detail)] if field_name else []
    return Problem(400, "bad-request", detail, errors)


def not_found(detail: str) -> Problem:
    return Problem(404, "not-found", detail)


def conflict(detail: str) -> Problem:
    return Problem(409, "conflict", detail)


def precondition_failed(detail: str = "The resource has changed since it was read (If-Match is stale).") -> Problem:
    return Problem(412, "precondition-failed", detail)


def unavailable(detail: str = "A backing store is unavailable; nothing was changed. Retry later.") -> Problem:
    return Problem(503, "unavailable", detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def timed_out() -> Problem:
    """503 for a store that did not answer in time (``STORE_TIMEOUT_SECONDS``): whatever the request had
    started is undone in the background, or, for a deletion whose last step lands later, completed."""
    return Problem(503, "unavailable", "A backing store did not answer in time; the change was not made (anything "
                                       "started is undone). Read the resource before retrying.",
                   headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
