"""The proxy's steps: a step added to the list changes the request on its way out and the answer on its way
back, in order out and in reverse order back, for every entry of a batch the gateway fans out, and never
sees a request the gateway refuses itself."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gateway.http import Response
from gateway.outbound.transport import MockTransport, UpstreamRequest, UpstreamResponse
from gateway.proxy.exchange import Exchange, ProxyStep
from gateway.proxy.forward import FhirProxy
from gateway.proxy.rewrite import LinkRewriting
from gateway.stores.models import Client, Route
from tests.support.constants import GW, PROVIDER, TENANT
from tests.support.fhir import request

FANOUT_TENANT = "0d6a5a4e-1f2b-4c3d-8e9f-0a1b2c3d4e5f"


class Marking(ProxyStep):
    """A step that says it saw the request (a header) and the answer (another), and records the order."""

    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    def outgoing(self, exchange: Exchange, request: UpstreamRequest) -> UpstreamRequest:
        self.seen.append(f"out:{self.name}")
        return dataclasses.replace(request, headers=[*request.headers, ("X-Step", self.name)])

    def incoming(self, exchange: Exchange, response: Response) -> Response:
        self.seen.append(f"in:{self.name}")
        response.headers.add("X-Step", self.name)
        return response


def answer(sent: UpstreamRequest) -> UpstreamResponse:
    body = {"resourceType": "Bundle", "link": [{"relation": "self", "url": f"{PROVIDER}/Patient"}]}
    return UpstreamResponse(200, [("Content-Type", "application/fhir+json")], json.dumps(body).encode(), "OK")


@pytest.fixture
async def proxy_with_steps(services):
    await services.clients.create(Client(client_id="teams", display_name="Teams", allowed_tenants=("*",)))
    await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=PROVIDER, fhir_version="STU3"))
    await services.routes.create(Route(tenant_id=FANOUT_TENANT, fhir_base_url=PROVIDER, fhir_version="STU3",
                                       batch_mode="fanout"))
    transport = MockTransport(answer)
    seen: list[str] = []
    steps = (LinkRewriting(services.settings.fhir_base_url), Marking("first", seen), Marking("second", seen))
    proxy = FhirProxy(settings=services.settings, tokens=services.verified_tokens, clients=services.client_directory,
                      routes=services.route_directory, upstream_auth=services.upstream_authenticator,
                      transport=transport, steps=steps)
    return services, proxy, transport, seen


async def token(services, tenant: str = TENANT) -> str:
    return (await services.token_issuer.issue(client_id="teams", tenant_id=tenant)).access_token


async def test_requests_pass_the_steps_in_order_and_answers_in_reverse(proxy_with_steps):
    services, proxy, transport, seen = proxy_with_steps
    response = await proxy.handle(request("GET", "/Patient", await token(services)))
    assert response.status == 200
    assert seen == ["out:first", "out:second", "in:second", "in:first"]
    assert [v for k, v in transport.requests[0].headers if k == "X-Step"] == ["first", "second"]
    assert response.headers.get_all("X-Step") == ["second", "first"]
    assert json.loads(response.body)["link"][0]["url"] == f"{GW}/Patient"  # the link step still ran, last


async def test_each_fanned_out_entry_passes_the_steps_out_and_the_composed_answer_back(proxy_with_steps):
    services, proxy, transport, seen = proxy_with_steps
    batch = {"resourceType": "Bundle", "type": "batch",
             "entry": [{"request": {"method": "GET", "url": "Patient/1"}},
                       {"request": {"method": "GET", "url": "Patient/2"}}]}
    response = await proxy.handle(request("POST", "/", await token(services, FANOUT_TENANT),
                                          body=json.dumps(batch).encode(),
                                          headers=[("Content-Type", "application/fhir+json")]))
    assert response.status == 200
    assert len(transport.requests) == 2
    assert all([v for k, v in sent.headers if k == "X-Step"] == ["first", "second"] for sent in transport.requests)
    assert seen.count("in:first") == seen.count("in:second") == 1


async def test_a_request_the_gateway_refuses_passes_no_step(proxy_with_steps):
    services, proxy, transport, seen = proxy_with_steps
    assert (await proxy.handle(request("GET", "/Patient", None))).status == 401
    assert (await proxy.handle(request("DELETE", "/Patient/1", await token(services)))).status == 403  # read-only
    assert seen == [] and transport.requests == []
