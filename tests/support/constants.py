"""Values shared across the suites: tenants, client ids, the gateway's and a provider's addresses."""

from __future__ import annotations

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
"""The customer's Azure AD tenant GUID: the token request's ``scope``, with a route in most tests."""

TENANT_A = TENANT
"""``TENANT`` under the name the two-tenant proxy tests pair with ``TENANT_B``."""

TENANT_B = "0d4f9a3c-1b2e-4c5d-8e7f-9a0b1c2d3e4f"
"""A second connected tenant: what one tenant's token must never reach."""

OTHER_TENANT = "0d6a5a4e-1f2b-4c3d-8e9f-0a1b2c3d4e5f"
"""A tenant a client is not allowed or a request does not name (grants, scopes, token requests)."""

CLIENT_ID = "teams-patients"
"""The reference client (Microsoft Teams *Patients* app), authenticating with a client secret."""

BACKEND_CLIENT_ID = "backend-service"
"""A SMART Backend Services client, authenticating with ``private_key_jwt``."""

BASE_URL = "http://localhost:7071"
"""``PUBLIC_BASE_URL`` of the development settings: the local Functions host."""

GW = f"{BASE_URL}/fhir"
"""The gateway's FHIR base, as clients see it."""

TOKEN_URL = f"{BASE_URL}/oauth2/token"
"""The gateway's token endpoint: the audience of client assertions."""

PROVIDER = "http://127.0.0.1:9/stu3"
"""A provider base nobody listens on, for tests whose transport is a ``MockTransport``."""

CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
"""The trace-id of a client's ``traceparent`` (the W3C Trace Context example's)."""

CLIENT_SPAN_ID = "00f067aa0ba902b7"
"""The parent-id of that ``traceparent``: the client's span."""

FORM = "application/x-www-form-urlencoded"
"""The content type of token requests and FHIR POST searches."""

DOTNET_HEADERS = [
    ("User-Agent", ".NET FhirClient for FHIR 1.0.2"),
    ("Accept", "application/json+fhir;charset=utf-8"),
    ("Prefer", "return=representation"),
]
"""The headers the reference client (.NET FhirClient, STU3) sends with every request."""
