"""Path traversal in-process: every encoding in ``test_host.TRAVERSALS``, handed to the proxy exactly
as the local Functions host hands it over (raw URL + the route parameter after the host's own
decoding), is refused before the provider; nothing outside the route's base is ever requested."""

from __future__ import annotations

import json

import pytest

from devtools.funchost.routing import decode_path
from gateway.http import Headers, Request
from tests.fixtures.provider import connect
from tests.security.test_host import TRAVERSALS
from tests.support.constants import DOTNET_HEADERS, GW, TENANT_A
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration

PREFIX = "/fhir/"


def as_the_host_delivers(method: str, target: str, token: str, body: bytes = b"",
                         content_type: str = "application/fhir+json") -> Request | None:
    """The request fhir_proxy_fn would receive for ``/fhir/<target>``; None when the host routes it elsewhere."""
    raw = (PREFIX + target).encode("latin-1")
    routed = decode_path(raw.split(b"?", 1)[0])
    if not routed.startswith(PREFIX) and routed != "/fhir":
        return None  # e.g. /manage/...: another function (see test_host for what that one answers)
    headers = Headers([*DOTNET_HEADERS, ("Authorization", f"Bearer {token}"), ("Content-Type", content_type)])
    return Request(method=method, url=GW[:-len("/fhir")] + raw.decode("latin-1"), headers=headers, body=body,
                   route_params={"path": routed[len(PREFIX):]})


async def test_every_traversal_encoding_is_refused_before_the_provider(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    routed_elsewhere = []
    for target in TRAVERSALS:
        req = as_the_host_delivers("GET", target, token)
        if req is None:
            routed_elsewhere.append(target)
            continue
        response = await proxy(req, services)
        assert response.status in (400, 404), (target, response.status)
        assert json.loads(response.body)["resourceType"] == "OperationOutcome"
    assert provider.requests == []
    # Only literal or single-encoded dots, which the host itself resolves (as Kestrel does), leave /fhir;
    # they land on /manage/clients, where the function key is required (test_host).
    assert routed_elsewhere == ["Patient/../../manage/clients", "Patient/%2e%2e/%2e%2e/manage/clients",
                                "Patient/%2E%2e/%2e%2E/manage/clients", "Patient/.%2e/%2e./manage/clients",
                                ".well-known/../../manage/clients"]


async def test_traversal_in_batch_entries_and_absolute_entry_urls_is_refused(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    urls = [*TRAVERSALS, f"{provider.base('/stu3')}/Patient/1", "http://169.254.169.254/latest/meta-data",
            f"{GW}/../manage/clients", f"{GW}/Patient/%2e%2e/x"]
    for url in urls:
        body = json.dumps({"resourceType": "Bundle", "type": "batch",
                           "entry": [{"request": {"method": "GET", "url": url}}]}).encode()
        req = as_the_host_delivers("POST", "", token, body)
        response = await proxy(req, services)
        assert response.status == 400, (url, response.status)
    assert provider.requests == []


async def test_the_routes_base_is_the_only_prefix_ever_requested(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    for target in ("Patient/1", "Patient/1/_history/2", "Patient/$everything", "Observation/_search",
                   "metadata", "", "Patient?name=..%2f..", "Patient?_id=../../x"):
        req = as_the_host_delivers("GET", target, token)
        assert (await proxy(req, services)).status == 200, target
    assert provider.requests and all(r.path == "/stu3" or r.path.startswith("/stu3/") for r in provider.requests)
    assert all(".." not in r.path and "%" not in r.path for r in provider.requests)
