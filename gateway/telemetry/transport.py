"""Client spans of the proxy's outbound calls (provider FHIR requests and provider-token requests).

Each call becomes a dependency whose target is the provider's host (``server.address`` and
``server.port``, OpenTelemetry HTTP client conventions); the recorded URL keeps the host and the
path's template only (no query, no ids). The provider gets the gateway span's W3C
``traceparent`` (Trace Context §3.2), so a provider that traces joins the same operation; any
``traceparent``/``tracestate`` already in the outgoing headers is replaced, never forwarded.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any
from urllib.parse import urlsplit

from gateway.outbound.transport import Transport, UpstreamError, UpstreamRequest, UpstreamResponse
from gateway.telemetry.attributes import provider_path_template
from gateway.telemetry.recorder import Recorder, traceparent

_TRACE_HEADERS = frozenset({"traceparent", "tracestate"})


class TracedTransport:
    """A :class:`gateway.outbound.transport.Transport` that traces every call of the one it wraps."""

    def __init__(self, inner: Transport, recorder: Recorder) -> None:
        self.inner = inner
        self._recorder = recorder

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        started = time.perf_counter()
        failed = True
        try:
            with self._recorder.client_span_for(lambda: _span_details(request)) as span:
                headers = [(k, v) for k, v in request.headers if k.lower() not in _TRACE_HEADERS]
                headers.append(("traceparent", traceparent(span)))
                response = await self.inner.send(dataclasses.replace(request, headers=headers))
                if span.is_recording():
                    span.set_attribute("http.response.status_code", response.status)
                    if response.status >= 400:
                        span.set_status(_error())
                failed = response.status >= 500
                return response
        except UpstreamError:
            raise
        finally:
            self._recorder.provider_call(time.perf_counter() - started, failed)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:  # anything else the wrapped transport offers (tests inspect it)
        return getattr(self.inner, name)


def _span_details(request: UpstreamRequest) -> tuple[str, dict[str, Any]]:
    """The client span's name and attributes: the provider's host and the path's template (no query, no ids)."""
    parts = urlsplit(request.url)
    method = request.method.upper()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = provider_path_template(parts.path)
    host = parts.hostname or ""
    return f"{method} {path}", {"http.request.method": method, "server.address": host, "server.port": port,
                                "url.full": f"{parts.scheme}://{host}:{port}{path}"}


def _error() -> Any:
    from opentelemetry.trace import Status, StatusCode

    return Status(StatusCode.ERROR)
