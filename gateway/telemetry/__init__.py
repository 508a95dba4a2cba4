"""Telemetry of the gateway: OpenTelemetry, exported to Application Insights by the Azure Monitor distro.

Enabled when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set: the first request of a worker
configures the distro once (:mod:`gateway.telemetry.setup`). Unset, every hook here is a
call that finds nothing active and returns: no OpenTelemetry module is imported.

The hooks are called at the points that know an outcome:

- :func:`serve` wraps a function's handler in the request's server span (``gateway.azure_http``),
- :func:`proxy_finished`, :func:`token_finished`: what the proxy and token endpoint decided,
- :func:`lockout`, :func:`cache_lookup`: the failure limiter and the read-through caches,
- :func:`traced_transport`, :func:`traced_stores`: client spans of provider and store calls.

What a span, metric or log may carry is in ``docs/operations.md`` ("Telemetry contract"):
tenant ids, client ids, resource types, interactions and outcomes, never PHI or credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.http import Request, Response
    from gateway.outbound.transport import Transport
    from gateway.stores.factory import AzureStores
    from gateway.telemetry.recorder import Recorder


_checked = False
_recorder: Recorder | None = None


def active_recorder() -> Recorder | None:
    """This worker's recorder, configured on first use; None when telemetry is off."""
    global _checked, _recorder
    if not _checked:
        _checked = True
        from gateway.config import telemetry_connection_string

        connection_string = telemetry_connection_string()
        if connection_string:
            from gateway.telemetry.setup import configure

            try:
                _recorder = configure(connection_string)
            except Exception as exc:  # noqa: BLE001 - telemetry must never take the gateway down with it
                # the type only: the message may quote the connection string
                logging.getLogger("gateway.telemetry").error(
                    "telemetry: not configured, continuing without it (%s)", type(exc).__name__)
    return _recorder


def use_recorder(value: Recorder | None) -> None:
    """Install (or, with None, switch off) the recorder directly: unit tests and the benchmark."""
    global _checked, _recorder
    _checked, _recorder = True, value


async def serve(request: Request, handler: Callable[[Request], Awaitable[Response]],
                trace_context: Any = None) -> Response:
    """``handler(request)`` inside the request's server span (when telemetry is on)."""
    active = active_recorder()
    if active is None:
        return await handler(request)
    return await active.serve(request, handler, trace_context)


def proxy_finished(log: Any, status: int) -> None:
    """The proxy's decision: ``log`` has ``tenant``, ``client_id``, ``outcome`` (``gateway.proxy.forward``)."""
    if _recorder is not None:
        _recorder.proxy_finished(log.tenant, log.client_id, log.outcome, status)


def token_finished(outcome: str, client_id: str, tenant: str) -> None:
    """The token endpoint's decision (client id already made loggable by the endpoint)."""
    if _recorder is not None:
        _recorder.token_finished(outcome, client_id, tenant)


def lockout() -> None:
    """The failure limiter just locked a client or an address out."""
    if _recorder is not None:
        _recorder.lockout()


def cache_lookup(cache: str, hit: bool) -> None:
    """One read of a per-worker cache (``clients``, ``routes``, ``verifiers``, ``keys``)."""
    if _recorder is not None:
        _recorder.cache_lookup(cache, hit)


def traced_transport(transport: Transport) -> Transport:
    """The proxy's transport, with a client span per provider call when telemetry is on."""
    active = active_recorder()
    if active is None:
        return transport
    from gateway.telemetry.transport import TracedTransport

    return TracedTransport(transport, active)


def traced_stores(stores: AzureStores, settings: Any) -> AzureStores:
    """The stores, with a client span per store call when telemetry is on."""
    active = active_recorder()
    if active is None:
        return stores
    from gateway.telemetry.stores import trace_stores

    return trace_stores(stores, settings, active)
