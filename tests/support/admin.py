"""Inputs of the admin resources (``gateway.admin.api``), as the admin API builds them from a request."""

from __future__ import annotations

from gateway.admin.tenant_routes import RouteSpec
from gateway.upstream.client_credentials import ClientCredentialsAuth


def route_spec(**overrides) -> RouteSpec:
    """A tenant route to an STU3 provider on a closed loopback port, named Contoso, with ``overrides``."""
    values = {"fhir_base_url": "http://127.0.0.1:9999/fhir", "fhir_version": "STU3", "display_name": "Contoso"}
    values.update(overrides)
    return RouteSpec(**values)


def cc_route_spec(secret: str | None, **overrides) -> RouteSpec:
    """``route_spec`` authenticating to the provider with client credentials; ``secret`` None keeps the stored one."""
    return route_spec(upstream=ClientCredentialsAuth(token_url="https://127.0.0.1:9443/token", client_id="gw",
                                                     scope="system/*.read"),
                      upstream_secret=secret, **overrides)
