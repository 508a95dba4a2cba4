"""The OpenAPI document: complete, self-consistent, and matching the dispatcher."""

from __future__ import annotations

import json
import re

from gateway.admin.endpoint import ROUTES
from gateway.admin.openapi import openapi_document
from tests.fixtures.common import make_settings


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
    dispatched = set()
    for pattern, methods in ROUTES:
        template = "/manage/" + "/".join(pattern)
        for method in methods:
            dispatched.add((template, method))
    normalised = {(re.sub(r"\{[^}]+\}", "{}", p), m) for p, m in documented}
    assert normalised == dispatched


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
