"""Reading an admin request: its JSON body, path parameters, ``If-Match``, query times; and answering with an ETag.

Bodies are checked in this order: size (413, MAX_REQUEST_BODY_BYTES), media type (415), JSON syntax (400),
then the OpenAPI schema (422, every invalid field named in ``errors``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from gateway.admin.openapi_parts import SECRET_ID_PATTERN
from gateway.admin.operation import Call
from gateway.admin.problems import FieldError, Problem, bad_request, validation_failed
from gateway.http import Request, Response, json_response
from gateway.stores.models import GUID_PATTERN, canonical_tenant_id

# RFC 3339 §5.6 date-time (the OpenAPI ``date-time`` format), offset required.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
# An unencoded "+" in the query arrives as a space: "...T00:00:00 01:00" means "+01:00".
_PLUS_AS_SPACE = re.compile(r"(T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?) (\d{2}:\d{2})$")
JSON_TYPES = ("application/json",)
PATCH_TYPES = ("application/json", "application/merge-patch+json")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_body_size(call: Call) -> None:
    limit = call.settings.max_request_body_bytes
    if len(call.request.body) > limit:
        raise Problem(413, "too-large", f"The body exceeds {limit} bytes.")


def read_json(call: Call, schema: str, *, media_types: tuple[str, ...] = JSON_TYPES) -> dict[str, Any]:
    """The request body as a JSON object valid against ``#/components/schemas/<schema>``."""
    check_body_size(call)
    request = call.request
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in media_types:
        raise Problem(415, "unsupported-media-type", f"Send the body as {' or '.join(media_types)}.")
    try:
        body = json.loads(request.body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad_request("The body is not valid UTF-8 JSON.") from None
    if not isinstance(body, dict):
        raise validation_failed([FieldError("", "must be a JSON object")])
    errors = call.validator.validate(body, {"$ref": f"#/components/schemas/{schema}"})
    if errors:
        raise validation_failed(errors)
    return body


def tenant_param(value: str) -> str:
    canonical = canonical_tenant_id(value) if re.fullmatch(GUID_PATTERN, value) else None
    if canonical is None:
        raise bad_request("tenantId must be an Azure AD tenant GUID.", "tenantId")
    return canonical


def client_param(value: str) -> str:
    if not re.fullmatch(GUID_PATTERN, value):
        raise bad_request("clientId must be a GUID.", "clientId")
    return value.lower()


def secret_param(value: str) -> str:
    if not re.fullmatch(SECRET_ID_PATTERN, value):
        raise bad_request("secretId must be 16 lowercase hexadecimal characters.", "secretId")
    return value


def if_match_of(request: Request) -> str | None:
    value = request.headers.get("if-match")
    return value.strip() if value is not None and value.strip() else None


def with_etag(status: int, payload: dict[str, Any], etag: str | None,
              headers: dict[str, str] | None = None) -> Response:
    extra = dict(headers or {})
    if etag:
        extra["ETag"] = etag
    return json_response(status, payload, headers=extra)


def query_time(request: Request, name: str) -> datetime | None:
    """The query parameter ``name`` as an RFC 3339 date-time in UTC, None when absent; 400 when malformed."""
    raw = request.query_value(name)
    if raw is None:
        return None
    try:
        raw = _PLUS_AS_SPACE.sub(r"\1+\2", raw)
        if not _DATE_TIME.fullmatch(raw):
            raise ValueError(name)
        value = datetime.fromisoformat(raw.upper())
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that moves the instant past year 1 or 9999
        raise bad_request(f"{name} must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z.", name) from None
