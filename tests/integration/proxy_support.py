"""Helpers shared by the proxy integration tests (routes, clients, tokens, requests)."""

from __future__ import annotations

from gateway.http import Headers, Request
from gateway.services import Services
from gateway.stores.models import Client, Route
from gateway.tokens.access_tokens import issue_access_token

TENANT_A = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TENANT_B = "0d4f9a3c-1b2e-4c5d-8e7f-9a0b1c2d3e4f"
CLIENT_ID = "teams-patients"
GW = "http://localhost:7071/fhir"

DOTNET_HEADERS = [
    ("User-Agent", ".NET FhirClient for FHIR 1.0.2"),
    ("Accept", "application/json+fhir;charset=utf-8"),
    ("Prefer", "return=representation"),
]


async def connect(services: Services, tenant: str, base_url: str, **route_fields) -> str:
    """Create the client (once) and a route for ``tenant``; return a valid access token for it."""
    if await services.clients.get(CLIENT_ID) is None:
        await services.clients.create(Client(client_id=CLIENT_ID, display_name="Teams Patients",
                                             allowed_tenants=("*",)))
    version = route_fields.pop("fhir_version", "STU3")
    await services.routes.create(Route(tenant_id=tenant, fhir_base_url=base_url, fhir_version=version,
                                       **route_fields))
    return (await issue_access_token(services, client_id=CLIENT_ID, tenant_id=tenant)).access_token


def request(method: str, url_or_path: str, token: str | None, *, body: bytes = b"",
            headers: list[tuple[str, str]] | None = None) -> Request:
    """A request as the Functions host hands it over (raw URL, decoded route path)."""
    from urllib.parse import unquote, urlsplit

    url = url_or_path if url_or_path.startswith("http") else GW + url_or_path
    items = list(DOTNET_HEADERS if headers is None else headers)
    if token is not None:
        items.append(("Authorization", f"Bearer {token}"))
    path = urlsplit(url).path
    captured = unquote(path[len("/fhir/"):]) if path.startswith("/fhir/") else ""
    return Request(method=method, url=url, headers=Headers(items), body=body, route_params={"path": captured})
