"""The pieces the admin API's OpenAPI 3.1 document is made of, shared by every resource's fragment: ``$ref`` s,
pages and listings, timestamps, the common responses and parameters, and the two components of no resource
(``Problem``, ``FieldError``: RFC 9457 problem details).

Each resource module of ``gateway.admin`` declares its own schemas (``SCHEMAS``) and operations
(``OPERATIONS``) with these; ``gateway.admin.openapi`` assembles the document from the table
(``gateway.admin.table``).
"""

from __future__ import annotations

from typing import Any

from gateway.admin.paging import MAX_PAGE_SIZE

SECRET_ID_PATTERN = r"^[0-9a-f]{16}$"
PROVIDER_KEY_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?-(rs384|es384)$"
"""An admin name of a provider key: ``<keyName>-rs384`` or ``<keyName>-es384``."""


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def page_schema(item: str) -> dict[str, Any]:
    """A page of a listing: ``items`` and the ``nextLink`` to the next page (null on the last)."""
    return {"type": "object", "required": ["items", "nextLink"],
            "properties": {"items": {"type": "array", "items": ref(item)},
                           "nextLink": {"type": ["string", "null"]}}}


def list_schema(item: str) -> dict[str, Any]:
    """A whole (unpaged) listing: ``items``."""
    return {"type": "object", "required": ["items"],
            "properties": {"items": {"type": "array", "items": ref(item)}}}


TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
ETAG_HEADER = {"ETag": {"description": "Entity tag; send it back in If-Match.", "schema": {"type": "string"}}}
_PROBLEM_CONTENT = {"application/problem+json": {"schema": ref("Problem")}}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                "schema": {"type": "string"}}}


def _response(description: str, content: dict[str, Any], headers: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": content}
    if headers:
        out["headers"] = headers
    return out


def json_body(schema: str, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A response whose JSON body is the component schema ``schema``."""
    return _response(description, {"application/json": {"schema": ref(schema)}}, headers)


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return _response(description, _PROBLEM_CONTENT, headers)


SCHEMAS: dict[str, Any] = {
    "FieldError": {
        "type": "object",
        "required": ["field", "message"],
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details. `errors` names each invalid field (never its value).",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": ref("FieldError")},
            "requestId": {"type": "string"},
        },
    },
}
"""The components of no one resource: problem details (RFC 9457) and the field errors they name."""

RESPONSES: dict[str, Any] = {
    "BadRequest": _problem("Malformed request: bad JSON, bad path or query parameter."),
    "Unauthorized": {"description": "Missing or wrong function key (answered by the Functions host; no body), or, "
                                    "with ADMIN_AUTH_AUDIENCE set, a missing or invalid Entra ID bearer token "
                                    "(problem details and `WWW-Authenticate: Bearer`)."},
    "Forbidden": _problem("The Entra ID token lacks the required app role (ADMIN_REQUIRED_ROLE)."),
    "NotFound": _problem("No such route, client, secret or path."),
    "MethodNotAllowed": _problem("The method is not supported on this path.",
                                 {"Allow": {"schema": {"type": "string"}}}),
    "Conflict": _problem("The change conflicts with the current state (e.g. a third active secret)."),
    "PreconditionFailed": _problem("If-Match does not match the current ETag."),
    "TooLarge": _problem("The body exceeds MAX_REQUEST_BODY_BYTES."),
    "UnsupportedMediaType": _problem("The body is not application/json."),
    "Unprocessable": _problem("The body is invalid or a rule refuses it (a managed-identity scope for another "
                              "resource, a stored provider secret whose binding fields change without it, a FHIR "
                              "version the provider's metadata contradicts); `errors` names each field."),
    "Unavailable": _problem("A backing store is unavailable or did not answer within STORE_TIMEOUT_SECONDS; "
                            "nothing was changed (anything started is undone).", _RETRY_AFTER),
}
_RESPONSE_OF_STATUS = {"400": "BadRequest", "401": "Unauthorized", "403": "Forbidden", "404": "NotFound",
                       "405": "MethodNotAllowed", "409": "Conflict", "412": "PreconditionFailed", "413": "TooLarge",
                       "415": "UnsupportedMediaType", "422": "Unprocessable", "503": "Unavailable"}
COMMON_ERRORS = ("400", "401", "403", "404", "405", "503")
"""What any admin operation may answer besides its own (malformed, unauthenticated, unknown path, store down)."""
BODY_ERRORS = ("413", "415", "422")
"""What an operation that reads a JSON body may answer besides."""


def error_responses(*statuses: str) -> dict[str, Any]:
    """The common error responses, then ``statuses``, as references to :data:`RESPONSES`."""
    return {code: {"$ref": f"#/components/responses/{_RESPONSE_OF_STATUS[code]}"}
            for code in (*COMMON_ERRORS, *statuses)}


PARAMETERS: dict[str, Any] = {
    "tenantId": {"name": "tenantId", "in": "path", "required": True, "description": "Customer's Azure AD tenant GUID.",
                 "schema": {"type": "string", "format": "uuid"}},
    "clientId": {"name": "clientId", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
    "secretId": {"name": "secretId", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": SECRET_ID_PATTERN}},
    "ifMatch": {"name": "If-Match", "in": "header", "required": False,
                "description": "ETag the change is based on; a stale one gives 412.", "schema": {"type": "string"}},
    "providerKeyName": {"name": "keyName", "in": "path", "required": True,
                        "description": "`<keyName>-rs384` or `<keyName>-es384`, e.g. `gateway-rs384`.",
                        "schema": {"type": "string", "pattern": PROVIDER_KEY_PATTERN}, "example": "gateway-rs384"},
    "pageSize": {"name": "pageSize", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 100}},
    "rebuildIndex": {"name": "rebuildIndex", "in": "query", "required": False,
                     "description": "`true`: write the legacy client id index again (after importing clients "
                                    "with ids of their own).", "schema": {"type": "string", "enum": ["true", "false"]}},
    "continuation": {"name": "continuation", "in": "query", "required": False,
                     "description": "Opaque token from a previous page's nextLink.", "schema": {"type": "string"}},
    "since": {"name": "since", "in": "query", "required": False, "description": "ISO 8601 (inclusive).",
              "schema": {"type": "string", "format": "date-time"}},
    "until": {"name": "until", "in": "query", "required": False, "description": "ISO 8601 (exclusive).",
              "schema": {"type": "string", "format": "date-time"}},
    "requireVerified": {"name": "requireVerified", "in": "query", "required": False,
                        "description": "Refuse the save (422) unless the provider's metadata confirms the declared "
                                       "FHIR version; without it an unreadable metadata leaves the route unverified.",
                        "schema": {"type": "boolean", "default": False}},
}
PATH_PARAMETERS = {"tenantId": "tenantId", "clientId": "clientId", "secretId": "secretId",
                   "keyName": "providerKeyName"}
"""The component (of :data:`PARAMETERS`) that describes each ``{name}`` of an operation's path."""


def parameters(*names: str) -> list[dict[str, str]]:
    """References to the components ``names`` of :data:`PARAMETERS`."""
    return [{"$ref": f"#/components/parameters/{n}"} for n in names]


def request_body(schema: str) -> dict[str, Any]:
    """A required JSON request body, the component schema ``schema``."""
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


SECURITY_SCHEMES: dict[str, Any] = {
    "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                    "description": "The admin_fn function key, checked by the Functions host (401 without it). "
                                   "The host also accepts it as the `code` query parameter; prefer the header "
                                   "(query strings end up in logs)."},
    "entraToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "An Entra ID v2.0 access token for ADMIN_AUTH_AUDIENCE with the app role "
                                  "ADMIN_REQUIRED_ROLE, verified by the app (required with the function key "
                                  "when ADMIN_AUTH_AUDIENCE is set)."},
}
