"""The admin API's OpenAPI 3.1 document: the single source of truth for its shapes, assembled from the admin
table (``gateway.admin.table``): each operation's row gives its path item, each resource module its schemas.

``GET /manage/openapi.json`` serves :func:`openapi_document`; request bodies are validated against its
component schemas (``gateway.admin.schema``, rooted at :func:`schema_root`). Errors are RFC 9457 problem
details; 401 comes from the Functions host's function-key check (``x-functions-key`` header or ``code`` query
parameter) before this code runs.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.admin import openapi_parts
from gateway.admin.openapi_parts import (
    PARAMETERS,
    PATH_PARAMETERS,
    RESPONSES,
    SECURITY_SCHEMES,
    error_responses,
    parameters,
    request_body,
)
from gateway.admin.operation import Operation
from gateway.admin.table import OPERATIONS
from gateway.admin.table import SCHEMAS as RESOURCE_SCHEMAS
from gateway.config import Settings

SCHEMAS: dict[str, Any] = {**openapi_parts.SCHEMAS, **RESOURCE_SCHEMAS}
"""Every component schema: the problem details, then each resource's."""

COMPONENTS: dict[str, Any] = {
    "schemas": SCHEMAS,
    "responses": RESPONSES,
    "parameters": PARAMETERS,
    "securitySchemes": SECURITY_SCHEMES,
}

_ROOT = {"components": COMPONENTS}


def schema_root() -> dict[str, Any]:
    """The document root that ``$ref`` values resolve against (for the validator)."""
    return _ROOT


def _operation(operation: Operation[Any]) -> dict[str, Any]:
    """The OpenAPI operation object of a row: id, summary, tag, parameters, body, responses."""
    out: dict[str, Any] = {"operationId": operation.operation_id, "summary": operation.summary,
                           "tags": [operation.tag]}
    if operation.parameters:
        out["parameters"] = parameters(*operation.parameters)
    if operation.body is not None:
        out["requestBody"] = request_body(operation.body)
    out["responses"] = {**operation.responses, **error_responses(*operation.errors)}
    return out


def paths() -> dict[str, Any]:
    """The path items of every operation of the table, its path's parameters declared on the path item."""
    items: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        item = items.setdefault(operation.path, {})
        names = [segment[1:-1] for segment in operation.segments if segment.startswith("{")]
        if names and "parameters" not in item:
            item["parameters"] = parameters(*(PATH_PARAMETERS[name] for name in names))
        item[operation.method.lower()] = _operation(operation)
    return items


_PATHS = paths()


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with the server URL taken from PUBLIC_BASE_URL."""
    components = copy.deepcopy(COMPONENTS)
    version = components["schemas"]["RouteInput"]["properties"]["fhirVersion"]
    version["enum"] = [settings.fhir_version]  # this gateway accepts only the version it advertises
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Interop partner gateway: admin API",
            "version": "1.0.0",
            "description": "Tenant routes, OAuth clients and secrets, signing keys and the audit trail. "
                           "Authenticated by the Functions host (function key) and, when ADMIN_AUTH_AUDIENCE is "
                           "set, by an Entra ID access token with the app role ADMIN_REQUIRED_ROLE, verified by "
                           "the app. Errors are RFC 9457 "
                           f"problem details. The gateway advertises FHIR {settings.fhir_version}.",
        },
        "servers": [{"url": settings.public_base_url}],
        "security": [{"functionKey": [], "entraToken": []} if settings.admin_entra_auth else {"functionKey": []}],
        "paths": copy.deepcopy(_PATHS),
        "components": components,
    }
