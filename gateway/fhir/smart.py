"""SMART configuration, SMART App Launch 2.x §"Conformance / .well-known/smart-configuration"
(https://hl7.org/fhir/smart-app-launch/conformance.html), for backend services only.

Only what is really supported is advertised: the client credentials grant at the token endpoint
with client_secret_basic, client_secret_post or private_key_jwt (SMART Backend Services, RFC 7523)
and its assertion algorithms, the JWKS of the token signing keys, and the SMART system scopes a
client may ask for (``gateway.scopes``: v2 and v1 syntax, ``system/`` only). The customer's tenant
GUID, which every token request names in ``scope`` too, is not listed: listing tenants would
disclose customers. The CapabilityStatement (``gateway.fhir.capability``) carries the same
capabilities.
"""

from __future__ import annotations

from typing import Any

from gateway.config import Settings
from gateway.oauth.assertion_names import signing_algorithms
from gateway.oauth.client_auth import METHODS

SMART_CAPABILITIES: tuple[str, ...] = (
    "client-confidential-symmetric",   # client secrets
    "client-confidential-asymmetric",  # private_key_jwt (Backend Services)
    "permission-v1",                   # system/*.read, system/Patient.write ...
    "permission-v2",                   # system/*.rs, system/Observation.cruds ...
)
SCOPES_SUPPORTED: tuple[str, ...] = (
    "system/*.cruds", "system/*.rs", "system/*.r", "system/*.s", "system/*.c", "system/*.u", "system/*.d",
    "system/*.read", "system/*.write", "system/*.*",
)
"""The wildcard forms; each also per resource type (``system/Patient.rs``), within the client's allowedScopes."""


def token_endpoint_auth_methods() -> list[str]:
    """The registered client authentication methods (``gateway.oauth.client_auth``), by name."""
    return sorted(METHODS)


def smart_configuration(settings: Settings) -> dict[str, Any]:
    base = settings.public_base_url
    return {
        "issuer": settings.issuer,
        "token_endpoint": settings.token_url,
        "jwks_uri": f"{base}/oauth2/jwks",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": token_endpoint_auth_methods(),
        "token_endpoint_auth_signing_alg_values_supported": list(
            signing_algorithms(settings.client_assertion_allow_sha256)),
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": [],
        "capabilities": list(SMART_CAPABILITIES),
    }
