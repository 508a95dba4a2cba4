"""Configure the Azure Monitor OpenTelemetry distro once per worker (Microsoft's guidance for Python Functions).

- ``configure_azure_monitor`` with the connection string; Entra ID authentication of the
  exporter comes from ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` (read by the exporter).
- If the Functions worker already configured OpenTelemetry (a real SDK tracer provider is
  installed, e.g. ``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY``), it is used as it is.
- The host and the worker join one trace through ``host.json`` ``"telemetryMode": "OpenTelemetry"``
  and ``PYTHON_ENABLE_OPENTELEMETRY=true``: the worker makes the host's invocation context
  current, and the gateway's request span becomes its child.
- Auto-instrumentations are off: the HTTP ones (requests, urllib, urllib3, httpx) record full URLs
  with query strings, and the Azure SDK's spans record table keys and secret names. The gateway's
  own spans (``gateway.telemetry.recorder``, ``.transport``, ``.stores``) replace them.
- Logs of the ``gateway`` loggers only (they never carry PHI or credentials); live metrics only
  when the connection string names a ``LiveEndpoint``; no performance counters (the platform has them).
"""

from __future__ import annotations

import logging

from gateway.telemetry.recorder import Recorder

logger = logging.getLogger("gateway.telemetry")

DISABLED_INSTRUMENTATIONS = ("azure_sdk", "django", "fastapi", "flask", "httpx", "httpx2", "psycopg2",
                             "requests", "urllib", "urllib3")
EXPORTED_LOGGER = "gateway"


def distro_options(connection_string: str) -> dict[str, object]:
    """The keyword arguments of ``configure_azure_monitor`` for the gateway."""
    return {
        "connection_string": connection_string,
        "logger_name": EXPORTED_LOGGER,
        "instrumentation_options": {name: {"enabled": False} for name in DISABLED_INSTRUMENTATIONS},
        "enable_live_metrics": "liveendpoint=" in connection_string.lower(),
        "enable_performance_counters": False,
    }


def configure(connection_string: str) -> Recorder:
    """Set up the exporters (unless the worker did) and return the gateway's recorder."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(**distro_options(connection_string))
        logger.info("telemetry: exporting to Application Insights")
    return Recorder()
