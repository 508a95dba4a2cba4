"""The read-only policy through the whole pipeline: a read-only route forwards reads, form searches and GET-only
JSON batches, and nothing else; whatever it refuses never reaches the provider."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.provider import connect
from tests.support.constants import GW, TENANT_A
from tests.support.fhir import request
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration

GET_ONLY = json.dumps({"resourceType": "Bundle", "type": "batch",
                       "entry": [{"request": {"method": "GET", "url": "Patient/1"}}]}).encode()


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["Patient/_search", "_search"])
async def test_only_post_may_search_on_a_read_only_route(services, provider, method, path):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    response = await proxy(request(method, f"/{path}", token, body=b"name=x",
                                   headers=[("Content-Type", "application/x-www-form-urlencoded")]), services)
    assert response.status == 403
    diagnostics = json.loads(response.body)["issue"][0]["diagnostics"]
    assert diagnostics == f"This connection is read-only: {method} is not allowed."
    assert provider.requests == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/fhir+xml", "application/xml",
                                          "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/jsonx", "text/json"])
async def test_a_get_only_batch_not_sent_as_json_is_not_a_read(services, provider, content_type):
    """The provider may parse a body whatever its label says; the gateway judges only what it can read as JSON."""
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    response = await proxy(request("POST", GW, token, body=GET_ONLY, headers=[("Content-Type", content_type)]),
                           services)
    assert response.status == 403
    assert json.loads(response.body)["issue"][0]["diagnostics"] == (
        "This connection is read-only: only a JSON batch Bundle of GET or HEAD entries may be posted to the base.")
    assert provider.requests == []


@pytest.mark.parametrize("content_type", ["application/fhir+json", "application/json+fhir; charset=utf-8",
                                          "application/json", "APPLICATION/JSON", "application/json; charset=utf-8"])
async def test_a_get_only_batch_sent_as_json_is_forwarded(services, provider, content_type):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    response = await proxy(request("POST", GW, token, body=GET_ONLY, headers=[("Content-Type", content_type)]),
                           services)
    assert response.status == 200
    assert [(r.method, r.path) for r in provider.requests] == [("POST", "/stu3")]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_writes_on_a_read_only_route_never_reach_the_provider(services, provider, method):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    response = await proxy(request(method, "/Patient/1" if method != "POST" else "/Patient", token, body=b"{}",
                                   headers=[("Content-Type", "application/fhir+json")]), services)
    assert response.status == 403 and provider.requests == []
