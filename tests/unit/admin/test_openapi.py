"""The OpenAPI document: complete, self-consistent, and matching the dispatcher (both read the admin table)."""

from __future__ import annotations

import json
import re

from gateway.admin.openapi import openapi_document
from gateway.admin.table import OPERATIONS
from gateway.http import Headers, Request
from tests.fixtures.common import make_settings
from tests.support.constants import TENANT


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_every_dispatched_operation_is_documented_and_vice_versa():
    doc = openapi_document(make_settings())
    documented = {(path, method.upper()) for path, item in doc["paths"].items()
                  for method in item if method != "parameters"}
    assert documented == {(op.path, op.method) for op in OPERATIONS}
    assert len(OPERATIONS) == len(documented)  # one row per operation


async def test_the_endpoint_dispatches_every_documented_operation(services):
    """Each (method, path) of the document reaches its handler: never "no such resource", never 405."""
    doc = openapi_document(make_settings())
    values = {"tenantId": TENANT, "clientId": TENANT, "secretId": "0" * 16, "keyName": "gateway-rs384"}
    for path, item in doc["paths"].items():
        concrete = re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path)
        for method in (m.upper() for m in item if m != "parameters"):
            request = Request(method, f"http://localhost:7071{concrete}", Headers({"Content-Type": "application/json"}),
                              {"path": concrete.removeprefix("/manage/")}, b"{}")
            response = await services.admin_endpoint.dispatch(request)
            assert response.status != 405, (method, path)
            assert json.loads(response.body or b"{}").get("detail") != "No such admin resource.", (method, path)


def test_every_reference_resolves():
    doc = openapi_document(make_settings())
    for ref in set(_refs(doc)):
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
        assert node


def test_every_operation_documents_errors_as_problem_json():
    doc = openapi_document(make_settings())
    for item in doc["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert {"400", "401", "403", "404", "503"} <= set(operation["responses"])
            assert operation["operationId"]
    assert "application/problem+json" in doc["components"]["responses"]["Unprocessable"]["content"]


def test_document_is_json_and_uses_the_public_base_url():
    doc = openapi_document(make_settings(PUBLIC_BASE_URL="http://127.0.0.1:8123"))
    assert json.loads(json.dumps(doc))["servers"][0]["url"] == "http://127.0.0.1:8123"
    assert doc["openapi"] == "3.1.0"
