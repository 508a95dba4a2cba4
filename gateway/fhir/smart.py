"""SMART configuration, SMART App Launch 2.0 §"Conformance / .well-known/smart-configuration"
(https://hl7.org/fhir/smart-app-launch/conformance.html), for backend services only.

Only what is really supported is advertised: the client credentials grant at the
token endpoint with client_secret_basic or client_secret_post, and the JWKS of
the token signing keys. ``scopes_supported`` is empty on purpose: the only scope
is the customer's tenant GUID, and listing tenants would disclose customers.
"""

from __future__ import annotations

from typing import Any

from gateway.config import Settings
from gateway.oauth.client_auth import AUTH_METHODS


def smart_configuration(settings: Settings) -> dict[str, Any]:
    base = settings.public_base_url
    return {
        "issuer": settings.issuer,
        "token_endpoint": f"{base}/oauth2/token",
        "jwks_uri": f"{base}/oauth2/jwks",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "scopes_supported": [],
        "response_types_supported": [],
        "capabilities": ["client-confidential-symmetric"],
    }
