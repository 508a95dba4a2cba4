"""OperationOutcome responses (FHIR R4 §2.36 / STU3 / DSTU2 share this shape for our use).

Every error the gateway itself produces on the FHIR surface is an
OperationOutcome with one issue; diagnostics never carry internal URLs,
stack traces, query values or other PHI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.http import Request, Response, json_response

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.failure import Failure

RETRY_AFTER_SECONDS = 5
_FAILURES = {
    "misconfigured": "The gateway is not configured correctly",
    "unavailable": "The gateway's configuration store is temporarily unavailable",
    "internal": "The gateway failed to handle the request",
}

# issue.code values (http://hl7.org/fhir/issue-type) by the situations we use them for.
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    413: "too-costly",
    415: "not-supported",
    429: "throttled",
    500: "exception",
    502: "transient",
    503: "transient",
    504: "timeout",
}


def fhir_json_media_type(fhir_version: str) -> str:
    """The FHIR JSON media type of a version: DSTU2 ``application/json+fhir``, later ``application/fhir+json``."""
    return "application/json+fhir" if fhir_version == "DSTU2" else "application/fhir+json"


def operation_outcome(status: int, diagnostics: str, *, fhir_version: str = "STU3", code: str | None = None,
                      headers: Mapping[str, str] | None = None, severity: str = "error") -> Response:
    """An OperationOutcome response with one issue."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": severity,
            "code": code or ISSUE_CODES.get(status, "processing"),
            "diagnostics": diagnostics,
        }],
    }
    return json_response(status, body, content_type=fhir_json_media_type(fhir_version), headers=headers)


def failure_outcome(failure: Failure, request: Request, settings: Settings | None) -> Response:
    """A start-up or store failure (``gateway.entry``) as an OperationOutcome: 503 ``transient`` with
    ``Retry-After``, or 500 ``exception``; the request id lets the operator find the log line."""
    headers = {"X-Request-Id": request.request_id}
    if failure.status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return operation_outcome(failure.status, f"{_FAILURES[failure.value]} (request id {request.request_id}).",
                             fhir_version=settings.fhir_version if settings is not None else "STU3",
                             headers=headers)
