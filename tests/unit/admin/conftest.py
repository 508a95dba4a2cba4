"""Helpers of the admin unit tests: call the admin API in-process on the in-memory services."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.http import Headers, Request, Response
from gateway.services import Services
from tests.support.surfaces import dispatch

OTHER_TENANT = "11111111-2222-3333-4444-555555555555"
FUNCTION_KEY = "unit-test-function-key-0123456789"


@dataclass
class Reply:
    response: Response

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def headers(self) -> Headers:
        return self.response.headers

    def json(self) -> Any:
        return json.loads(self.response.body)


class AdminCaller:
    """Builds requests like the Functions host would and dispatches them."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def __call__(self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
                       raw: bytes | None = None, content_type: str = "application/json") -> Reply:
        hdrs = Headers({"x-functions-key": FUNCTION_KEY, "x-forwarded-for": "203.0.113.7:50000",
                        "x-request-id": "req-unit-1"})
        data = b""
        if raw is not None:
            data = raw
            hdrs.set("Content-Type", content_type)
        elif body is not None:
            data = json.dumps(body).encode()
            hdrs.set("Content-Type", content_type)
        for name, value in (headers or {}).items():
            hdrs.set(name, value)
        route_path = path.split("?")[0].removeprefix("/manage/")
        request = Request(method=method, url=f"http://localhost:7071{path}", headers=hdrs,
                          route_params={"path": route_path}, body=data)
        return Reply(await dispatch(request, self.services))


@pytest.fixture
def admin(services: Services) -> AdminCaller:
    return AdminCaller(services)


def route_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"fhirBaseUrl": "http://127.0.0.1:9999/fhir", "fhirVersion": "STU3",
                            "displayName": "Contoso Hospital"}
    body.update(overrides)
    return body
