"""The proxy pipeline on in-memory stores and a MockTransport: refusals never reach the provider."""

import json
import logging

import pytest

from gateway.http import Request
from gateway.outbound.transport import MockTransport, UpstreamResponse, UpstreamTimeout, UpstreamUnreachable
from gateway.stores.models import Client, Route, UpstreamAuth
from tests.support.constants import GW, PROVIDER, TENANT
from tests.support.fhir import request
from tests.support.surfaces import proxy


def ok(request):
    return UpstreamResponse(200, [("Content-Type", "application/fhir+json")],
                            json.dumps({"resourceType": "Bundle", "link": [{"relation": "self",
                                                                            "url": f"{PROVIDER}/Patient"}]}).encode(),
                            "OK")


@pytest.fixture
async def setup(services):
    await services.clients.create(Client(client_id="teams", display_name="Teams", allowed_tenants=(TENANT,)))
    await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=PROVIDER, fhir_version="STU3"))
    transport = services.use_transport(MockTransport(ok))
    token = (await services.token_issuer.issue(client_id="teams", tenant_id=TENANT)).access_token
    return services, transport, token


def req(method, path, token=None, body=b"", headers=()) -> Request:
    """:func:`tests.support.fhir.request` with only the headers given (each test here says what it sends)."""
    return request(method, path, token, body=body, headers=list(headers))


async def test_forwarded_read_is_rewritten(setup):
    services, transport, token = setup
    response = await proxy(req("GET", "/Patient?name:contains=chau&_count=10", token), services)
    assert response.status == 200
    assert json.loads(response.body)["link"][0]["url"] == f"{GW}/Patient"
    sent = transport.requests[0]
    assert sent.url == f"{PROVIDER}/Patient?name:contains=chau&_count=10"
    assert all(v != f"Bearer {token}" for _, v in sent.headers)


async def test_missing_token_is_401_without_error_code(setup):
    services, transport, _ = setup
    response = await proxy(req("GET", "/Patient/1"), services)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="{GW}"'
    assert json.loads(response.body)["resourceType"] == "OperationOutcome"
    assert transport.requests == []


async def test_bad_token_is_401_invalid_token(setup):
    services, transport, token = setup
    response = await proxy(req("GET", "/Patient/1", token[:-4] + "AAAA"), services)
    assert response.status == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert token not in response.body.decode()
    assert transport.requests == []


async def test_disabled_client_is_refused(setup):
    services, transport, token = setup
    client = await services.clients.get("teams")
    from dataclasses import replace
    await services.clients.replace(replace(client, enabled=False))
    response = await proxy(req("GET", "/Patient/1", token), services)
    assert response.status == 401
    assert transport.requests == []


async def test_tenant_without_route_is_404(services):
    other = "11111111-2222-3333-4444-555555555555"
    await services.clients.create(Client(client_id="teams", display_name="T", allowed_tenants=("*",)))
    transport = services.use_transport(MockTransport(ok))
    token = (await services.token_issuer.issue(client_id="teams", tenant_id=other)).access_token
    response = await proxy(req("GET", "/Patient/1", token), services)
    assert response.status == 404
    assert transport.requests == []


@pytest.mark.parametrize("method, path, body, status", [
    ("GET", "/Patient/%2e%2e/x", b"", 400),
    ("GET", "/Patient//1", b"", 400),
    ("PUT", "/Patient/1", b"{}", 403),
    ("DELETE", "/Patient/1", b"", 403),
    ("POST", "", b'{"resourceType":"Bundle","type":"transaction","entry":[]}', 403),
    ("POST", "", b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"../x"}}]}', 400),
    ("OPTIONS", "/Patient", b"", 405),
])
async def test_refusals_never_reach_the_provider(setup, method, path, body, status):
    services, transport, token = setup
    response = await proxy(req(method, path, token, body, [("Content-Type", "application/fhir+json")]), services)
    assert response.status == status
    assert json.loads(response.body)["resourceType"] == "OperationOutcome"
    assert transport.requests == []


async def test_too_large_request_body_is_413(setup):
    services, transport, token = setup
    too_big = b"x" * (services.settings.max_request_body_bytes + 1)
    response = await proxy(req("POST", "/Patient/_search", token, too_big), services)
    assert response.status == 413
    assert transport.requests == []


@pytest.mark.parametrize("error, status", [(UpstreamTimeout("t"), 504), (UpstreamUnreachable("u"), 502)])
async def test_provider_failures_are_outcomes(setup, error, status):
    services, _, token = setup

    def fail(request):
        raise error

    install = services.provider_transport
    install.handler = fail
    response = await proxy(req("GET", "/Patient/1", token), services)
    assert response.status == status
    text = response.body.decode()
    assert "127.0.0.1" not in text and "Traceback" not in text


async def test_one_log_line_without_query_values_or_token(setup, caplog):
    services, _, token = setup
    caplog.set_level(logging.DEBUG)
    await proxy(req("GET", "/Patient?family=Secretname", token, headers=[("X-Request-Id", "rid-42")]), services)
    lines = [r for r in caplog.records if r.name == "gateway.proxy.access"]
    assert len(lines) == 1
    message = lines[0].getMessage()
    assert "rid-42" in message and TENANT in message and "teams" in message and "Patient" in message
    assert "status=200" in message
    everything = " ".join(r.getMessage() for r in caplog.records)
    assert "Secretname" not in everything and token not in everything
    fields = lines[0].proxy  # the same fields, structured, for handlers that export attributes
    assert fields["request_id"] == "rid-42" and fields["tenant"] == TENANT and fields["status"] == 200
    assert message == " ".join(f"{k}={v}" for k, v in fields.items())
    assert lines[0].levelno == logging.INFO and "Secretname" not in json.dumps(fields)


async def test_access_line_goes_through_the_loggers_filters(setup, caplog):
    services, _, token = setup
    caplog.set_level(logging.INFO)
    access = logging.getLogger("gateway.proxy.access")
    refuse = logging.Filter("nothing")  # a filter an operator installs on the logger itself
    access.addFilter(refuse)
    try:
        await proxy(req("GET", "/Patient/1", token), services)
    finally:
        access.removeFilter(refuse)
    assert not [r for r in caplog.records if r.name == "gateway.proxy.access"]


async def test_access_record_comes_from_the_installed_record_factory(setup, caplog):
    services, _, token = setup
    caplog.set_level(logging.INFO)
    default = logging.getLogRecordFactory()

    def factory(*args, **kwargs):  # what a worker or a logging instrumentation installs to enrich records
        record = default(*args, **kwargs)
        record.invocation = "inv-1"
        return record

    logging.setLogRecordFactory(factory)
    try:
        await proxy(req("GET", "/Patient/1", token), services)
    finally:
        logging.setLogRecordFactory(default)
    line, = [r for r in caplog.records if r.name == "gateway.proxy.access"]
    assert line.invocation == "inv-1" and line.proxy["status"] == 200


async def test_fanout_route_composes_batch_response(setup):
    services, transport, token = setup
    route = await services.routes.get(TENANT)
    from dataclasses import replace
    await services.routes.replace(replace(route, batch_mode="fanout"))
    services.route_directory.invalidate(TENANT)
    body = json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/1"}},
        {"request": {"method": "GET", "url": "Condition?patient=1"}}]})
    response = await proxy(req("POST", "", token, body.encode(), [("Content-Type", "application/fhir+json")]), services)
    assert response.status == 200
    out = json.loads(response.body)
    assert out["type"] == "batch-response" and len(out["entry"]) == 2
    assert sorted(r.url for r in transport.requests) == [f"{PROVIDER}/Condition?patient=1", f"{PROVIDER}/Patient/1"]
    assert out["entry"][0]["resource"]["link"][0]["url"] == f"{GW}/Patient"


async def test_unexpected_error_is_a_500_outcome_with_one_log_line(setup, caplog):
    services, transport, token = setup

    def explode(request):
        raise RuntimeError("secret detail http://127.0.0.1:9")

    transport.handler = explode
    caplog.set_level(logging.INFO)
    response = await proxy(req("GET", "/Patient/1", token), services)
    assert response.status == 500
    assert json.loads(response.body)["resourceType"] == "OperationOutcome"
    assert "secret detail" not in response.body.decode() and "secret detail" not in caplog.text
    assert len([r for r in caplog.records if r.name == "gateway.proxy.access"]) == 1


@pytest.mark.parametrize("method, attempts, outcome", [("GET", 2, "ok"), ("POST", 1, UpstreamUnreachable)])
async def test_connection_reset_while_sending_is_unreachable_not_a_500(services, monkeypatch, method, attempts,
                                                                       outcome):
    # aiohttp raises ClientConnectionResetError ("Cannot write to closing transport") when a pooled keep-alive
    # connection the provider just closed is reused: a GET is retried once, anything else is a clean 502.
    import aiohttp

    from gateway.outbound.transport import AiohttpTransport, UpstreamRequest

    transport = AiohttpTransport(services.settings)
    calls = []

    async def send_once(request):
        calls.append(request)
        if len(calls) == 1:
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")
        return UpstreamResponse(200, [], b"", "OK")

    monkeypatch.setattr(transport, "_send_once", send_once)
    request = UpstreamRequest(method=method, url=f"{PROVIDER}/Patient/1", headers=[],
                              retry_on_connection_failure=method == "GET")
    if outcome == "ok":
        assert (await transport.send(request)).status == 200
    else:
        with pytest.raises(outcome):
            await transport.send(request)
    assert len(calls) == attempts


async def test_a_provider_401_is_a_502_and_the_next_request_gets_a_fresh_provider_token(services):
    """The client's token is never sent on, so a provider 401 refuses the gateway's credentials: passed on, it
    would tell the client to fetch another gateway token (RFC 6750 §3.1), in vain."""
    await services.clients.create(Client(client_id="teams", display_name="Teams", allowed_tenants=(TENANT,)))
    await services.routes.create(Route(
        tenant_id=TENANT, fhir_base_url=PROVIDER, fhir_version="STU3",
        upstream_auth=UpstreamAuth(type="clientCredentials", token_url="http://127.0.0.1:9/token", client_id="gw",
                                   scope="system/*.read", secret_name="provider-secret")))
    await services.secrets.set("provider-secret", "s3cr3t")
    issued, presented = [], []

    def provider(request):
        if request.url.endswith("/token"):
            issued.append(f"provider-at-{len(issued)}")
            return UpstreamResponse(200, [], json.dumps({"access_token": issued[-1], "expires_in": 3600}).encode())
        presented.append(dict(request.headers)["Authorization"])
        if len(presented) == 1:  # the provider revoked the first token early
            return UpstreamResponse(401, [("WWW-Authenticate", 'Bearer error="invalid_token"')], b"")
        return ok(request)

    services.use_transport(MockTransport(provider))
    token = (await services.token_issuer.issue(client_id="teams", tenant_id=TENANT)).access_token
    refused = await proxy(req("GET", "/Patient/1", token), services)
    assert refused.status == 502 and "www-authenticate" not in refused.headers
    outcome = json.loads(refused.body)
    assert outcome["resourceType"] == "OperationOutcome" and "credentials" in outcome["issue"][0]["diagnostics"]
    assert "s3cr3t" not in refused.body.decode() and "provider-at" not in refused.body.decode()
    again = await proxy(req("GET", "/Patient/1", token), services)
    assert again.status == 200
    assert presented == ["Bearer provider-at-0", "Bearer provider-at-1"]
