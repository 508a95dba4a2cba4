"""``GET /manage/openapi.json``: the admin API's OpenAPI 3.1 document (``gateway.admin.openapi``), built from the
admin table when it is asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.admin.operation import Call, Operation
from gateway.http import Response, json_response


class ApiDocument:
    """The document ``build`` makes (the services build it from the table and the settings)."""

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build

    def json(self) -> dict[str, Any]:
        return self._build()


async def get_openapi(call: Call, document: ApiDocument) -> Response:
    return json_response(200, document.json())


SCHEMAS: dict[str, Any] = {}

OPERATIONS: tuple[Operation[ApiDocument], ...] = (
    Operation("GET", "/manage/openapi.json", ApiDocument, get_openapi, "getOpenApi", "This document.", "meta",
              {"200": {"description": "OpenAPI 3.1 document.",
                       "content": {"application/json": {"schema": {"type": "object"}}}}}),
)
