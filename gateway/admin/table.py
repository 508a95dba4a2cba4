"""The admin API's one table of operations: every resource module's ``OPERATIONS``, in the order the document
lists them. Dispatch (``gateway.admin.endpoint``), the audit names of refused changes and the OpenAPI
document (``gateway.admin.openapi``) all read it; nothing else lists an admin path.

Every resource module has the same shape: the resource (a class built with exactly its stores), its HTTP
handlers (``handler(call, resource)``), its OpenAPI component schemas (``SCHEMAS``) and its rows
(``OPERATIONS``). Adding a resource: docs/architecture.md, "Adding an admin resource".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from gateway.admin import (
    audit_trail,
    client_secrets,
    clients,
    document,
    provider_keys,
    readiness,
    signing_keys,
    tenant_routes,
)
from gateway.admin.operation import Operation

RESOURCES: tuple[ModuleType, ...] = (tenant_routes, clients, client_secrets, signing_keys, provider_keys, audit_trail,
                                     readiness, document)
"""The resource modules, in the order of the document's paths and schemas."""

OPERATIONS: tuple[Operation[Any], ...] = tuple(op for module in RESOURCES for op in module.OPERATIONS)

SCHEMAS: Mapping[str, Any] = {name: schema for module in RESOURCES for name, schema in module.SCHEMAS.items()}
"""Every resource's OpenAPI component schemas."""


def matching(segments: list[str]) -> tuple[list[Operation[Any]], dict[str, str]] | None:
    """The operations on the path ``segments`` (after ``/manage/``), by method, and its parameters; None when
    no operation has that path."""
    found: list[Operation[Any]] = []
    params: dict[str, str] | None = None
    for operation in OPERATIONS:
        matched = operation.matches(segments)
        if matched is not None and (params is None or operation.segments == found[0].segments):
            found.append(operation)
            params = matched
    return (found, params) if params is not None else None


def change_of(method: str, segments: list[str]) -> tuple[str, str, str] | None:
    """``(action, target type, target)`` when ``method`` on ``segments`` is an attempted change (audited even
    when refused)."""
    for operation in OPERATIONS:
        if operation.audit is None or operation.method != method:
            continue
        params = operation.matches(segments)
        if params is not None:
            return operation.audit.action, operation.audit.target_type, operation.audit_target(params)
    return None
