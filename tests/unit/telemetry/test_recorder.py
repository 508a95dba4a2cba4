"""Spans and metrics of the gateway on the OpenTelemetry SDK with in-memory exporters (no network).

The proxy, token endpoint, caches and failure limiter run for real on in-memory stores and a
MockTransport; what they record is read back from the SDK."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind

from gateway import telemetry
from gateway.http import Headers, Request, Response
from gateway.oauth.rate_limit import FailureLimiter
from gateway.outbound.transport import MockTransport, UpstreamRequest, UpstreamResponse, UpstreamUnreachable
from gateway.stores.models import Client, Route
from gateway.telemetry.recorder import Recorder
from gateway.telemetry.transport import TracedTransport
from tests.support.constants import BASE_URL, PROVIDER, TENANT
from tests.support.constants import CLIENT_SPAN_ID as CLIENT_SPAN
from tests.support.constants import CLIENT_TRACE_ID as CLIENT_TRACE
from tests.support.fhir import request
from tests.support.oauth import basic
from tests.support.surfaces import proxy, token_endpoint
from tests.unit.oauth.helpers import add_client, add_route

ROOT = Path(__file__).resolve().parents[3]
PATIENT_ID = "pat-8841927"
HOST_TRACE = "0af7651916cd43dd8448eb211c80319c"
HOST_SPAN = "b7ad6b7169203331"


@pytest.fixture
def recorded():
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    saved = telemetry._checked, telemetry._recorder
    telemetry.use_recorder(Recorder(tracer_provider=tracer_provider, meter_provider=meter_provider))
    yield SimpleNamespace(spans=spans, reader=reader)
    telemetry._checked, telemetry._recorder = saved


def points(reader: InMemoryMetricReader) -> dict[str, list]:
    out: dict[str, list] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


def provider_ok(request: UpstreamRequest) -> UpstreamResponse:
    return UpstreamResponse(200, [("Content-Type", "application/fhir+json")],
                            json.dumps({"resourceType": "Patient", "id": PATIENT_ID}).encode(), "OK")


async def proxied(services, transport_handler=provider_ok):
    await services.clients.create(Client(client_id="teams", display_name="Teams", allowed_tenants=(TENANT,)))
    await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=PROVIDER, fhir_version="STU3"))
    transport = services.use_transport(MockTransport(transport_handler))
    token = (await services.token_issuer.issue(client_id="teams", tenant_id=TENANT)).access_token
    return transport, token


def fhir_request(path: str, token: str | None, headers=()) -> Request:
    """A ``GET`` below the FHIR base with only the headers given (the trace headers each test sends)."""
    return request("GET", path, token, headers=list(headers))


async def serve_proxy(services, request: Request, trace_context=None) -> Response:
    return await telemetry.serve(request, lambda r: proxy(r, services), trace_context)


async def test_a_proxied_read_is_one_server_span_with_the_contract_dimensions_and_one_provider_call(
        services, recorded):
    transport, token = await proxied(services)
    response = await serve_proxy(services, fhir_request(
        f"/Patient/{PATIENT_ID}?name=Chalmers", token,
        [("traceparent", f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"), ("baggage", "patient=Chalmers")]))
    assert response.status == 200

    server, = [s for s in recorded.spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    client, = [s for s in recorded.spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert server.name == "GET /fhir/Patient/{id}"
    assert (f"{server.context.trace_id:032x}", f"{server.parent.span_id:016x}") == (CLIENT_TRACE, CLIENT_SPAN)
    assert {k: server.attributes[k] for k in ("tenant.id", "client.id", "fhir.resource_type", "fhir.interaction",
                                              "gateway.outcome", "http.response.status_code", "url.full")} == {
        "tenant.id": TENANT, "client.id": "teams", "fhir.resource_type": "Patient", "fhir.interaction": "read",
        "gateway.outcome": "forwarded", "http.response.status_code": 200,
        "url.full": "http://localhost:7071/fhir/Patient/{id}"}
    assert client.name == "GET /stu3/Patient/{id}" and client.parent.span_id == server.context.span_id
    assert (client.attributes["server.address"], client.attributes["server.port"],
            client.attributes["url.full"], client.attributes["http.response.status_code"]) == (
        "127.0.0.1", 9, "http://127.0.0.1:9/stu3/Patient/{id}", 200)

    sent = dict((k.lower(), v) for k, v in transport.requests[0].headers)
    assert sent["traceparent"] == f"00-{CLIENT_TRACE}-{client.context.span_id:016x}-01"
    assert "baggage" not in sent and "tracestate" not in sent


async def test_a_sampled_out_read_has_no_spans_but_still_propagates_its_trace_and_counts_in_metrics(services):
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)  # as most requests under the distro's rate limit
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    saved = telemetry._checked, telemetry._recorder
    telemetry.use_recorder(Recorder(tracer_provider=tracer_provider,
                                    meter_provider=MeterProvider(metric_readers=[reader])))
    try:
        transport, token = await proxied(services)
        caller = [("traceparent", f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00")]
        assert (await serve_proxy(services, fhir_request(f"/Patient/{PATIENT_ID}", token, caller))).status == 200
    finally:
        telemetry._checked, telemetry._recorder = saved
    assert spans.get_finished_spans() == ()
    sent = dict((k.lower(), v) for k, v in transport.requests[0].headers)
    assert sent["traceparent"].startswith(f"00-{CLIENT_TRACE}-") and sent["traceparent"].endswith("-00")
    found = points(reader)
    assert [(p.attributes["tenant"], p.attributes["outcome"], p.value) for p in found["gateway.proxy.requests"]] == [
        (TENANT, "forwarded", 1)]
    assert [p.count for p in found["gateway.provider.duration"]] == [1]


async def test_the_hosts_trace_context_wins_over_the_callers_header(services, recorded):
    _, token = await proxied(services)
    host_context = SimpleNamespace(trace_parent=f"00-{HOST_TRACE}-{HOST_SPAN}-01", trace_state="", attributes={})
    caller = [("traceparent", f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01")]
    await serve_proxy(services, fhir_request("/Patient", token, caller), host_context)
    server, = [s for s in recorded.spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert (f"{server.context.trace_id:032x}", f"{server.parent.span_id:016x}") == (HOST_TRACE, HOST_SPAN)
    assert server.attributes["fhir.interaction"] == "search"


async def test_the_context_the_workers_opentelemetry_integration_made_current_is_the_parent(services, recorded):
    """PYTHON_ENABLE_OPENTELEMETRY: the worker attaches the host's invocation context before calling the function."""
    from opentelemetry import context as otel_context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    _, token = await proxied(services)
    attached = TraceContextTextMapPropagator().extract({"traceparent": f"00-{HOST_TRACE}-{HOST_SPAN}-01"})
    context_token = otel_context.attach(attached)
    try:
        caller = [("traceparent", f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01")]
        await serve_proxy(services, fhir_request("/Patient", token, caller))
    finally:
        otel_context.detach(context_token)
    server, = [s for s in recorded.spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert (f"{server.context.trace_id:032x}", f"{server.parent.span_id:016x}") == (HOST_TRACE, HOST_SPAN)


async def test_a_malformed_traceparent_starts_a_new_trace(services, recorded):
    _, token = await proxied(services)
    await serve_proxy(services, fhir_request("/Patient", token, [("traceparent", "00-zz-not-a-trace")]))
    server, = [s for s in recorded.spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert server.parent is None and server.context.trace_id != 0


async def test_a_traceparent_already_in_the_outgoing_headers_is_replaced_never_forwarded(recorded):
    inner = MockTransport(provider_ok)
    traced = TracedTransport(inner, telemetry.active_recorder())
    await traced.send(UpstreamRequest("GET", f"{PROVIDER}/Patient", [
        ("traceparent", f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"), ("tracestate", "caller=1"), ("Accept", "x")]))
    sent = inner.requests[0].headers
    values = [v for k, v in sent if k.lower() in ("traceparent", "tracestate")]
    assert len(values) == 1 and CLIENT_SPAN not in values[0] and CLIENT_TRACE not in values[0]


async def test_proxy_and_provider_metrics_by_tenant_and_outcome(services, recorded):
    def unreachable(request):
        raise UpstreamUnreachable("down")

    _, token = await proxied(services, unreachable)
    response = await serve_proxy(services, fhir_request("/Observation?patient=42", token))
    assert response.status == 502
    await serve_proxy(services, fhir_request("/Observation", None))
    found = points(recorded.reader)
    requests = {(p.attributes["tenant"], p.attributes["outcome"]): p.value for p in found["gateway.proxy.requests"]}
    assert requests == {(TENANT, "provider-UpstreamUnreachable"): 1, ("(none)", "no-token"): 1}
    assert {p.attributes["tenant"]: p.value for p in found["gateway.provider.errors"]} == {TENANT: 1}
    assert {p.attributes["tenant"]: p.count for p in found["gateway.provider.duration"]} == {TENANT: 1}
    assert {p.attributes["tenant"] for p in found["gateway.proxy.duration"]} == {TENANT, "(none)"}
    server = [s for s in recorded.spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert [s.status.status_code.name for s in server] == ["ERROR", "UNSET"]  # 502, then 401
    assert all(c.status.status_code.name == "ERROR" and c.attributes["error.type"] == "UpstreamUnreachable"
               for c in recorded.spans.get_finished_spans() if c.kind is SpanKind.CLIENT)


async def test_token_outcomes_lockouts_and_cache_lookups(services, recorded):
    await add_route(services)
    secret = await add_client(services)
    wrong = secret[:-4] + "AAAA"

    def token_request(password: str) -> Request:
        return Request("POST", f"{BASE_URL}/oauth2/token", Headers({
            "Content-Type": "application/x-www-form-urlencoded", "Authorization": basic("teams-patients", password)}),
            body=f"grant_type=client_credentials&scope={TENANT}".encode(), route_params={"endpoint": "token"})

    issued = await telemetry.serve(token_request(secret), lambda r: token_endpoint(r, services))
    assert issued.status == 200
    for _ in range(services.settings.auth_failure_limit + 1):
        await telemetry.serve(token_request(wrong), lambda r: token_endpoint(r, services))
    found = points(recorded.reader)
    outcomes = {p.attributes["outcome"]: p.value for p in found["gateway.token.requests"]}
    assert outcomes["issued"] == 1 and outcomes["invalid_client"] >= services.settings.auth_failure_limit
    assert sum(p.value for p in found["gateway.auth.lockouts"]) == 1
    lookups = {(p.attributes["cache"], p.attributes["result"]) for p in found["gateway.cache.requests"]}
    assert {("clients", "miss"), ("clients", "hit"), ("verifiers", "miss"), ("keys", "miss")} <= lookups
    first = next(s for s in recorded.spans.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert (first.name, first.attributes["gateway.outcome"], first.attributes["client.id"],
            first.attributes["tenant.id"]) == ("POST /oauth2/token", "issued", "teams-patients", TENANT)
    assert secret not in repr([(s.name, dict(s.attributes)) for s in recorded.spans.get_finished_spans()])


def test_the_failure_limiter_counts_one_lockout_per_lock(recorded):
    from gateway.clock import SystemClock

    limiter = FailureLimiter(limit_per_client=2, limit_per_address=100, window_seconds=60, clock=SystemClock())
    for _ in range(5):
        limiter.record_failure("c", "10.0.0.1")
    assert sum(p.value for p in points(recorded.reader)["gateway.auth.lockouts"]) == 1


async def test_no_phi_or_credential_in_any_span(services, recorded):
    _, token = await proxied(services)
    await serve_proxy(services, fhir_request(f"/Patient/{PATIENT_ID}/_history/7?birthdate=1974-12-25", token))
    await serve_proxy(services, fhir_request(f"/Patient?name=Chalmers&identifier={PATIENT_ID}", token))
    text = repr([(s.name, dict(s.attributes), [e.attributes for e in s.events])
                 for s in recorded.spans.get_finished_spans()])
    for forbidden in (PATIENT_ID, "Chalmers", "1974-12-25", "birthdate", token, "Bearer"):
        assert forbidden not in text


async def test_the_recorded_request_url_has_no_query_even_without_a_path(recorded):
    async def answer(_: Request) -> Response:
        return Response(404)

    for url in ("http://localhost:7071?patient=Chalmers", "http://user:pw@localhost:7071/fhir/Patient/1?x=Chalmers"):
        await telemetry.serve(Request("GET", url, Headers()), answer)
    recorded_urls = [s.attributes["url.full"] for s in recorded.spans.get_finished_spans()]
    assert recorded_urls == ["http://localhost:7071/", "http://localhost:7071/fhir/Patient/{id}"]


def test_the_contract_names_are_the_ones_the_recorder_emits(recorded):
    section = (ROOT / "docs/operations.md").read_text().split("### Telemetry contract", 1)[1].split("###", 1)[0]
    documented = set()
    for name in re.findall(r"(?m)^\| metric \| (.+?) \|", section):
        documented |= set(re.findall(r"`([^`]+)`", name))
    active = telemetry.active_recorder()
    emitted = {value.name for value in vars(active).values() if hasattr(value, "name") and hasattr(value, "unit")}
    assert emitted == documented
    (request_row,) = re.findall(r"(?m)^\| request \| .+? \| (.+?) \|$", section)
    dimensions = set(re.findall(r"`([^`]+)`", request_row))
    source = (ROOT / "gateway/telemetry/recorder.py").read_text()
    assert all(f'"{name}"' in source for name in dimensions)


def test_with_telemetry_off_no_opentelemetry_module_is_imported():
    script = """
import asyncio, sys
from gateway import telemetry
from gateway.http import Headers, Request, Response
import gateway.proxy.forward, gateway.oauth.endpoint, gateway.caching, gateway.tokens.keyring

async def handler(request):
    telemetry.cache_lookup("clients", True)
    telemetry.lockout()
    return Response(200)

response = asyncio.run(telemetry.serve(Request("GET", "http://h/fhir/Patient/1", Headers()), handler))
assert response.status == 200 and telemetry.active_recorder() is None
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry", "azure.monitor")))
print(loaded)
sys.exit(1 if loaded else 0)
"""
    env = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_connection_string_the_exporter_refuses_leaves_the_gateway_serving_without_telemetry():
    script = """
import asyncio
from gateway import telemetry
from gateway.http import Headers, Request, Response

async def handler(request):
    return Response(200)

for _ in range(2):
    response = asyncio.run(telemetry.serve(Request("GET", "http://h/fhir/Patient/1", Headers()), handler))
    assert response.status == 200 and telemetry.active_recorder() is None
"""
    env = {**os.environ, "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=not-a-guid;IngestionEndpoint=x",
           "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "telemetry: not configured, continuing without it (ValueError)" in result.stderr
    assert "not-a-guid" not in result.stderr
