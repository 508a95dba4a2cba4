"""The OpenTelemetry side of the hooks: spans and metrics of one worker (imported only when telemetry is on).

Server span per request (OpenTelemetry HTTP semantic conventions: ``http.request.method``,
``http.route``, ``url.full``, ``http.response.status_code``; Application Insights turns them
into a request's name, URL and result code) plus the gateway's dimensions of the
telemetry contract in ``docs/operations.md``: ``tenant.id``, ``client.id``,
``fhir.resource_type``, ``fhir.interaction``, ``gateway.outcome``.

The parent is, in this order: the context the Functions worker's OpenTelemetry integration
made current, the invocation's ``trace_context`` from the host, the request's own W3C
``traceparent`` (Trace Context §3.2). Only ``traceparent``/``tracestate`` are read: a
caller's ``baggage`` goes nowhere.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.http import Request, Response
from gateway.telemetry import attributes as attrs

NO_TENANT = "(none)"
_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass
class RequestRecord:
    """What the request's handlers learnt, read when the server span ends."""

    function: str
    started: float = field(default_factory=time.perf_counter)
    tenant: str | None = None
    client_id: str | None = None
    outcome: str | None = None
    provider_calls: list[tuple[float, bool]] = field(default_factory=list)


_current: ContextVar[RequestRecord | None] = ContextVar("gateway_telemetry_request", default=None)


def traceparent(span: trace.Span) -> str:
    """The W3C ``traceparent`` of ``span`` (Trace Context §3.2.2), sent to the provider."""
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


class Recorder:
    """Tracer, meter and instruments of the gateway."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.tracer = trace.get_tracer("gateway", tracer_provider=tracer_provider)
        meter = metrics.get_meter("gateway", meter_provider=meter_provider)
        self.token_requests = meter.create_counter("gateway.token.requests", unit="{request}",
                                                   description="Token requests by outcome")
        self.proxy_requests = meter.create_counter("gateway.proxy.requests", unit="{request}",
                                                   description="Proxied requests by tenant and outcome")
        self.proxy_duration = meter.create_histogram("gateway.proxy.duration", unit="ms",
                                                     description="Proxied request duration by tenant and outcome")
        self.provider_duration = meter.create_histogram("gateway.provider.duration", unit="ms",
                                                        description="Provider call duration by tenant")
        self.provider_errors = meter.create_counter("gateway.provider.errors", unit="{call}",
                                                    description="Failed provider calls (no answer or 5xx)")
        self.lockouts = meter.create_counter("gateway.auth.lockouts", unit="{lockout}",
                                             description="Failure-limiter lock-outs")
        # Cache lookups are the most frequent event (several per request): counted in a plain dict and
        # reported when the metric reader collects, not through an instrument call per lookup.
        self._cache_counts: dict[tuple[str, bool], int] = {}
        self.cache_requests = meter.create_observable_counter(
            "gateway.cache.requests", callbacks=[self._observe_cache], unit="{lookup}",
            description="Cache lookups by cache and result (hit, miss)")

    # -- server span -------------------------------------------------------------------------------------
    def parent_context(self, request: Request, trace_context: Any) -> otel_context.Context | None:
        if trace.get_current_span().get_span_context().is_valid:
            return None  # the worker's OpenTelemetry integration made the host's context current
        carrier: dict[str, str] = {}
        parent = getattr(trace_context, "trace_parent", None) if trace_context is not None else None
        if parent:
            carrier["traceparent"] = str(parent)
            state = getattr(trace_context, "trace_state", None)
            if state:
                carrier["tracestate"] = str(state)
        else:
            for name in ("traceparent", "tracestate"):
                value = request.headers.get(name)
                if value:
                    carrier[name] = value
        if not carrier:
            return otel_context.Context()  # a new trace (ignore anything current but invalid)
        return _PROPAGATOR.extract(carrier, context=otel_context.Context())

    async def serve(self, request: Request, handler: Callable[[Request], Awaitable[Response]],
                    trace_context: Any) -> Response:
        record = RequestRecord(attrs.function_of(request.path))
        template = attrs.route_template(request.path)
        method = request.method.upper()
        span = self.tracer.start_span(
            f"{method} {template}", context=self.parent_context(request, trace_context), kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": template,
                        "url.full": _public_url(request.url, template)})
        record_token = _current.set(record)
        context_token = otel_context.attach(trace.set_span_in_context(span))
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            if span.is_recording():  # a sampled-out span keeps nothing: its attributes are not worth computing
                span.set_attributes(self._request_attributes(request, record, status))
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            span.end()
            otel_context.detach(context_token)
            _current.reset(record_token)

    @staticmethod
    def _request_attributes(request: Request, record: RequestRecord, status: int) -> dict[str, Any]:
        values: dict[str, Any] = {"http.response.status_code": status,
                                  "gateway.outcome": record.outcome or status_outcome(status)}
        if record.tenant:
            values["tenant.id"] = record.tenant
        if record.client_id:
            values["client.id"] = record.client_id
        if record.function in ("proxy", "metadata"):
            values["fhir.interaction"] = attrs.interaction(request.method, request.path)
            resource_type = attrs.resource_type(request.path)
            if resource_type and record.function == "proxy":
                values["fhir.resource_type"] = resource_type
        return values

    # -- client spans ------------------------------------------------------------------------------------
    def client_span(self, name: str, attributes: dict[str, Any]) -> AbstractContextManager[trace.Span]:
        """A client span under the current one; none when that is not recorded (sampled out, or no request):
        it would not be exported, and the sampler's decision is already made."""
        return self.client_span_for(lambda: (name, attributes))

    @contextmanager
    def client_span_for(self, details: Callable[[], tuple[str, dict[str, Any]]]) -> Iterator[trace.Span]:
        """:meth:`client_span` with its name and attributes computed only when the span is recorded (most
        requests are sampled out: their spans are never built)."""
        current = trace.get_current_span()
        if not current.is_recording():
            yield current
            return
        name, attributes = details()
        span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        try:
            yield span
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR))
            raise
        finally:
            span.end()

    # -- outcomes ----------------------------------------------------------------------------------------
    def proxy_finished(self, tenant: str, client_id: str, outcome: str, status: int) -> None:
        record = _current.get()
        tenant = tenant if tenant and tenant != "-" else NO_TENANT
        labels = {"tenant": tenant, "outcome": outcome}
        self.proxy_requests.add(1, labels)
        if record is None:
            return
        self.proxy_duration.record((time.perf_counter() - record.started) * 1000, labels)
        if tenant != NO_TENANT:
            record.tenant = tenant
        if client_id and client_id != "-":
            record.client_id = client_id
        record.outcome = outcome
        for seconds, failed in record.provider_calls:
            self.provider_duration.record(seconds * 1000, {"tenant": tenant})
            if failed:
                self.provider_errors.add(1, {"tenant": tenant})

    def token_finished(self, outcome: str, client_id: str, tenant: str) -> None:
        self.token_requests.add(1, {"outcome": outcome.split(" ", 1)[0]})
        record = _current.get()
        if record is not None:
            record.outcome = outcome
            if client_id and client_id != "-":
                record.client_id = client_id
            if tenant and tenant != "-":
                record.tenant = tenant

    def lockout(self) -> None:
        self.lockouts.add(1)

    def cache_lookup(self, cache: str, hit: bool) -> None:
        key = (cache, hit)
        self._cache_counts[key] = self._cache_counts.get(key, 0) + 1

    def _observe_cache(self, _options: Any) -> Iterator[metrics.Observation]:
        for (cache, hit), count in list(self._cache_counts.items()):
            yield metrics.Observation(count, {"cache": cache, "result": "hit" if hit else "miss"})

    def provider_call(self, seconds: float, failed: bool) -> None:
        record = _current.get()
        if record is not None:
            record.provider_calls.append((seconds, failed))


def _public_url(url: str, template: str) -> str:
    """The request URL as recorded: scheme, host and port, the route template; no user info, no query."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return template
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{template}" if parts.scheme else template


def status_outcome(status: int) -> str:
    """The outcome of a request no handler named one for (metadata, admin): by its status."""
    if status >= 500:
        return "server-error"
    if status >= 400:
        return "client-error"
    return "ok"
