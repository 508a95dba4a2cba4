"""Provider failures and refusals over real sockets: the answer is an OperationOutcome, quickly,
and a refused request never reaches the provider."""

import gzip
import json
import socket
from dataclasses import replace

import pytest

from gateway.services import memory_services
from tests.fixtures.common import make_settings
from tests.fixtures.provider import Reply, connect
from tests.support.constants import TENANT_A
from tests.support.fhir import request
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration


def outcome(response):
    body = json.loads(response.body)
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


@pytest.fixture
async def capped(clock):
    svc = memory_services(make_settings(PROXY_MAX_RESPONSE_BYTES="10000"), clock)
    yield svc
    await svc.aclose()


@pytest.mark.parametrize("mode", ["reset", "garbage"])
async def test_broken_provider_is_502(services, provider, mode):
    token = await connect(services, TENANT_A, provider.base())
    provider.script = lambda r, s: Reply(mode=mode)
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == 502
    assert provider.origin not in response.body.decode()


async def test_unreachable_provider_is_502(services):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = await connect(services, TENANT_A, f"http://127.0.0.1:{port}/stu3")
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == 502
    assert outcome(response)["code"] == "transient"
    assert str(port) not in response.body.decode()


async def test_slow_provider_is_504_within_the_route_timeout(services, provider):
    token = await connect(services, TENANT_A, provider.base(), read_timeout_seconds=0.3)
    provider.script = lambda r, s: Reply(body={"resourceType": "Patient"}, delay=1.5)
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == 504
    assert outcome(response)["code"] == "timeout"


async def test_idempotent_read_is_retried_once_after_a_reset(services, provider):
    token = await connect(services, TENANT_A, provider.base())
    provider.script = lambda r, s: (Reply(mode="reset") if len(s.requests) == 1
                                    else Reply(body={"resourceType": "Patient"}))
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == 200
    assert len(provider.requests) == 2


async def test_a_read_is_retried_only_once(services, provider):
    token = await connect(services, TENANT_A, provider.base())
    assert (await proxy(request("GET", "/Patient/1", token), services)).status == 200  # warm, pooled connection
    provider.script = lambda r, s: Reply(mode="reset")
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == 502
    assert len(provider.requests) == 3


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_writes_are_not_retried(services, provider, method):
    token = await connect(services, TENANT_A, provider.base(), allow_writes=True)
    assert (await proxy(request("GET", "/Patient/1", token), services)).status == 200  # warm, pooled connection
    provider.script = lambda r, s: Reply(mode="reset")
    body = b'{"resourceType":"Patient","id":"1"}' if method == "PUT" else b'{"resourceType":"Patient"}'
    response = await proxy(request(method, "/Patient/1" if method == "PUT" else "/Patient", token, body=body,
                                   headers=[("Content-Type", "application/fhir+json")]), services)
    assert response.status == 502
    assert len(provider.requests) == 2


@pytest.mark.parametrize("zipped", [False, True])
async def test_huge_body_is_refused_with_502(capped, provider, zipped):
    token = await connect(capped, TENANT_A, provider.base())
    provider.script = lambda r, s: Reply(body=b'{"x":"' + b"a" * 50_000 + b'"}', gzip=zipped)
    response = await proxy(request("GET", "/Patient", token), capped)
    assert response.status == 502
    assert outcome(response)["code"] == "too-costly"
    assert len(gzip.compress(b"a" * 50_000)) < 10_000  # the compressed size alone would have passed


@pytest.mark.parametrize("method, path, body, status", [
    ("GET", "/Patient/%2e%2e/%2e%2e/admin", b"", 400),
    ("GET", "/Patient/..%252f..%252fadmin", b"", 400),
    ("GET", "/Patient%5c..%5cx", b"", 400),
    ("GET", "/Patient//1", b"", 400),
    ("DELETE", "/Patient/1", b"", 403),
    ("PATCH", "/Patient/1", b"[]", 403),
    ("POST", "/Patient", b'{"resourceType":"Patient"}', 403),
    ("POST", "", b'{"resourceType":"Bundle","type":"batch",'
                 b'"entry":[{"request":{"method":"DELETE","url":"Patient/1"}}]}', 403),
    ("POST", "", b'<Bundle xmlns="http://hl7.org/fhir"/>', 403),
])
async def test_refused_requests_never_reach_the_provider(services, provider, method, path, body, status):
    token = await connect(services, TENANT_A, provider.base())
    response = await proxy(request(method, path, token, body=body,
                                   headers=[("Content-Type", "application/fhir+json")]), services)
    assert response.status == status
    outcome(response)
    assert provider.requests == []


async def test_missing_and_forged_tokens_never_reach_the_provider(services, provider):
    token = await connect(services, TENANT_A, provider.base())
    for presented in (None, "not-a-jwt", token[:-2] + ("AA" if token[-2:] != "AA" else "BB")):
        response = await proxy(request("GET", "/Patient/1", presented), services)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert provider.requests == []


async def test_disabled_route_is_403_and_never_contacts_the_provider(services, provider):
    token = await connect(services, TENANT_A, provider.base())
    route = await services.routes.get(TENANT_A)
    await services.routes.replace(replace(route, enabled=False))
    services.route_directory.invalidate(TENANT_A)
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == 403
    assert provider.requests == []


async def test_cached_route_keeps_serving_while_table_storage_is_down(services, provider, clock, caplog):
    token = await connect(services, TENANT_A, provider.base())
    assert (await proxy(request("GET", "/Patient/1", token), services)).status == 200
    services.routes.available = False
    services.clients.available = False
    clock.advance(services.settings.route_cache_seconds + 5)
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == 200
    assert len(provider.requests) == 2
    assert "store unavailable, serving a stale entry" in caplog.text
    clock.advance(services.settings.stale_if_error_seconds + 5)
    token_late = token  # the token itself has expired by now too; either refusal keeps the provider out
    response = await proxy(request("GET", "/Patient/1", token_late), services)
    assert response.status in (401, 503)
    assert len(provider.requests) == 2
