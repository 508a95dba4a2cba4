"""Content negotiation and OperationOutcome bodies (FHIR http §2.1.0.6 "Content Types and encodings").

The server speaks JSON only. ``_format`` wins over ``Accept``; ``json`` and the
FHIR JSON types give the version's FHIR type (DSTU2 ``application/json+fhir``,
STU3/R4 ``application/fhir+json``), ``application/json`` gives plain
``application/json``, anything else (XML, HTML, ...) is a 406. Like HAPI, a
FHIR JSON type of the other generation is accepted (the Patients app always
sends ``application/json+fhir``, even to STU3 servers).
"""

from __future__ import annotations

from http import HTTPStatus

from devtools.demo_provider.catalog import dumps

FHIR_JSON_TYPES = frozenset({"application/fhir+json", "application/json+fhir"})
PLAIN_JSON = "application/json;charset=utf-8"
WILDCARDS = frozenset({"*/*", "application/*"})
ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               406: "not-supported", 410: "not-found",
               413: "too-costly", 415: "not-supported", 500: "exception"}


class NotAcceptable(Exception):
    """No representation the client accepts (406)."""


def fhir_type(version: str) -> str:
    """The version's FHIR JSON media type, with charset."""
    return ("application/json+fhir" if version == "DSTU2" else "application/fhir+json") + ";charset=utf-8"


def negotiate(version: str, accept: str | None, fmt: str | None) -> str:
    """The response Content-Type for an ``Accept`` header and a ``_format`` parameter (either may be absent)."""
    if fmt:
        wanted = fmt.strip().lower().replace(" ", "+")  # '+' in a query string decodes to a space
        if wanted == "json" or wanted in FHIR_JSON_TYPES:
            return fhir_type(version)
        if wanted == "application/json":
            return PLAIN_JSON
        raise NotAcceptable
    if not accept:
        return fhir_type(version)
    types = set()
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        types.add(media.lower())
    if types & FHIR_JSON_TYPES:
        return fhir_type(version)
    if "application/json" in types:
        return PLAIN_JSON
    if types & WILDCARDS:
        return fhir_type(version)
    raise NotAcceptable


def outcome(status: int, diagnostics: str, code: str | None = None) -> bytes:
    """An OperationOutcome with one error issue (its diagnostics never echo request values)."""
    return dumps({"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": code or ISSUE_CODES.get(status, "processing"), "diagnostics": diagnostics}]})


def status_line(status: int) -> str:
    """``200 OK`` style text for Bundle.entry.response.status."""
    return f"{status} {HTTPStatus(status).phrase}"
