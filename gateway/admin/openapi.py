"""The admin API's OpenAPI 3.1 document: the single source of truth for its shapes.

``GET /manage/openapi.json`` serves :func:`openapi_document`; request bodies
are validated against ``COMPONENTS["schemas"]`` (``gateway.admin.schema``).
Errors are RFC 9457 problem details; 401 comes from the Functions host's
function-key check (``x-functions-key`` header or ``code`` query parameter)
before this code runs.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.config import FHIR_VERSIONS, MAX_CONNECT_TIMEOUT_SECONDS, MAX_READ_TIMEOUT_SECONDS, Settings
from gateway.proxy.provider_keys import DEFAULT_KEY_NAME, KEY_NAME_PATTERN
from gateway.stores.models import TENANT_OR_ALL_PATTERN

SECRET_ID_PATTERN = r"^[0-9a-f]{16}$"
MAX_PAGE_SIZE = 1000
PROVIDER_KEY_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?-(rs384|es384)$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _page(item: str) -> dict[str, Any]:
    """A page of a listing: ``items`` and the ``nextLink`` to the next page (null on the last)."""
    return {"type": "object", "required": ["items", "nextLink"],
            "properties": {"items": {"type": "array", "items": _ref(item)},
                           "nextLink": {"type": ["string", "null"]}}}


def _list(item: str) -> dict[str, Any]:
    """A whole (unpaged) listing: ``items``."""
    return {"type": "object", "required": ["items"],
            "properties": {"items": {"type": "array", "items": _ref(item)}}}


_TIMESTAMP = {"type": "string", "format": "date-time"}
_NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
# A client's fields as created (``ClientCreate``) and changed (``ClientPatch``).
_DISPLAY_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_ALLOWED_TENANTS = {"type": "array", "minItems": 1, "maxItems": 500, "uniqueItems": True,
                    "items": {"type": "string", "pattern": TENANT_OR_ALL_PATTERN}}
_ALLOWED_SCOPES = {"type": "string", "minLength": 1, "maxLength": 8192,
                   "description": "SMART system scopes the client may be granted, space-separated: v2 "
                                  "(`system/Patient.rs`, `system/*.cruds`) or v1 (`system/*.read`); "
                                  "stored in v2 form. Default `system/*.rs`."}
# The one response that shows a new client secret (``NewSecret``, and ``NewClient`` with its first secret).
_NEW_SECRET = {"clientId": {"type": "string"}, "secretId": {"type": "string"},
               "clientSecret": {"type": "string", "description": "Shown this once; store it now."},
               "secretExpiresOn": _TIMESTAMP}

SCHEMAS: dict[str, Any] = {
    "FieldError": {
        "type": "object",
        "required": ["field", "message"],
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details. `errors` names each invalid field (never its value).",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": _ref("FieldError")},
            "requestId": {"type": "string"},
        },
    },
    "Timeouts": {
        "type": "object",
        "additionalProperties": False,
        "description": "Provider timeouts in seconds; null or absent: the gateway's defaults.",
        "properties": {
            "connectSeconds": {"type": ["number", "null"], "exclusiveMinimum": 0,
                               "maximum": MAX_CONNECT_TIMEOUT_SECONDS},
            "readSeconds": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": MAX_READ_TIMEOUT_SECONDS},
        },
    },
    "UpstreamAuthNone": {
        "type": "object",
        "additionalProperties": False,
        "required": ["type"],
        "properties": {"type": {"type": "string", "const": "none"}},
    },
    "UpstreamAuthClientCredentials": {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "tokenUrl", "clientId"],
        "description": "OAuth client credentials at the provider. `clientSecret` goes to Key Vault and is never "
                       "returned; it is required on a new route and kept from the current route when omitted, "
                       "unless the change moves what the stored secret is bound to: `tokenUrl`, `clientId` or the "
                       "provider's origin (`fhirBaseUrl`). Then it must be sent again (422 naming "
                       "`upstreamAuth/clientSecret`).",
        "properties": {
            "type": {"type": "string", "const": "clientCredentials"},
            "tokenUrl": {"type": "string", "format": "uri", "maxLength": 2048},
            "clientId": {"type": "string", "minLength": 1, "maxLength": 256},
            "clientSecret": {"type": "string", "minLength": 1, "maxLength": 1024, "writeOnly": True},
            "scope": {"type": "string", "maxLength": 1024},
        },
    },
    "UpstreamAuthManagedIdentity": {
        "type": "object",
        "additionalProperties": False,
        "required": ["type"],
        "description": "The gateway's managed identity, only ever for the provider itself: the scope is "
                       "`<scheme>://<host>[:port]/.default` of `fhirBaseUrl` (Azure Health Data Services form). "
                       "A scope naming anything else, or a provider on an Azure Key Vault, Storage, Resource "
                       "Manager or Graph host, is a 422.",
        "properties": {
            "type": {"type": "string", "const": "managedIdentity"},
            "scope": {"type": "string", "minLength": 1, "maxLength": 1024,
                      "description": "Optional: derived from fhirBaseUrl when absent; when given it must name "
                                     "that same origin (scheme and host case and a default port do not matter)."},
        },
    },
    "UpstreamAuthPrivateKeyJwt": {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "tokenUrl", "clientId"],
        "description": "SMART Backend Services at the provider: the client credentials grant with an RFC 7523 "
                       "client assertion (`iss` = `sub` = `clientId`, `aud` = `tokenUrl`, at most 5 minutes, random "
                       "`jti`) signed by a gateway key that never leaves Key Vault. The key is created when the "
                       "first route that needs it is saved; its public keys are at `/oauth2/provider-jwks` (the "
                       "gateway's key) or `/oauth2/provider-jwks?key=<keyName>` (a route's own key): the JWKS URL "
                       "to register at the provider. No secret is sent or stored; a change of `tokenUrl`, "
                       "`clientId`, `keyName` or the provider's origin is audited (`boundFieldsMoved`).",
        "properties": {
            "type": {"type": "string", "const": "privateKeyJwt"},
            "tokenUrl": {"type": "string", "format": "uri", "maxLength": 2048,
                         "description": "The provider's token endpoint: the assertion's exact `aud`. Same URL "
                                        "rules as `fhirBaseUrl`."},
            "clientId": {"type": "string", "minLength": 1, "maxLength": 256,
                         "description": "The client id the provider registered for the gateway."},
            "scope": {"type": "string", "maxLength": 1024, "description": "E.g. `system/*.rs`."},
            "algorithm": {"type": "string", "enum": ["RS384", "ES384"], "default": "RS384",
                          "description": "RS384 (RSA 3072 key) or ES384 (P-384 key)."},
            "keyName": {"type": "string", "pattern": KEY_NAME_PATTERN, "default": DEFAULT_KEY_NAME,
                        "description": "Sign with a key of this name instead of the gateway's (`gateway`): its "
                                       "own JWKS URL, so one hospital's registration trusts only its key."},
        },
    },
    "UpstreamAuthInput": {
        "oneOf": [_ref("UpstreamAuthNone"), _ref("UpstreamAuthClientCredentials"),
                  _ref("UpstreamAuthManagedIdentity"), _ref("UpstreamAuthPrivateKeyJwt")],
        "discriminator": {
            "propertyName": "type",
            "mapping": {
                "none": "#/components/schemas/UpstreamAuthNone",
                "clientCredentials": "#/components/schemas/UpstreamAuthClientCredentials",
                "managedIdentity": "#/components/schemas/UpstreamAuthManagedIdentity",
                "privateKeyJwt": "#/components/schemas/UpstreamAuthPrivateKeyJwt",
            },
        },
    },
    "UpstreamAuth": {
        "type": "object",
        "required": ["type", "clientSecretSet"],
        "properties": {
            "type": {"type": "string", "enum": ["none", "clientCredentials", "managedIdentity", "privateKeyJwt"]},
            "tokenUrl": {"type": ["string", "null"]},
            "clientId": {"type": ["string", "null"]},
            "scope": {"type": ["string", "null"]},
            "clientSecretSet": {"type": "boolean"},
            "algorithm": {"type": ["string", "null"], "description": "privateKeyJwt: RS384 or ES384."},
            "keyName": {"type": ["string", "null"], "description": "privateKeyJwt: the key it signs with."},
        },
    },
    "RouteInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["fhirBaseUrl", "fhirVersion"],
        "properties": {
            "fhirBaseUrl": {"type": "string", "format": "uri", "maxLength": 2048,
                            "description": "Provider FHIR base URL: https and a public address in production "
                                           "(unless privateNetwork); http on loopback allowed in development."},
            "fhirVersion": {"type": "string", "enum": list(FHIR_VERSIONS),
                            "description": "Must equal the gateway's FHIR_VERSION (422 otherwise)."},
            "displayName": {"type": "string", "maxLength": 200},
            "enabled": {"type": "boolean", "default": True},
            "allowWrites": {"type": "boolean", "default": False},
            "batchMode": {"type": "string", "enum": ["passthrough", "fanout"], "default": "passthrough"},
            "privateNetwork": {"type": "boolean", "default": False,
                               "description": "Allow a private (VNet) provider address."},
            "timeouts": _ref("Timeouts"),
            "upstreamAuth": _ref("UpstreamAuthInput"),
        },
    },
    "Route": {
        "type": "object",
        "required": ["tenantId", "fhirBaseUrl", "fhirVersion", "displayName", "enabled", "allowWrites",
                     "batchMode", "privateNetwork", "timeouts", "upstreamAuth", "etag"],
        "properties": {
            "tenantId": {"type": "string", "format": "uuid"},
            "fhirBaseUrl": {"type": "string"},
            "fhirVersion": {"type": "string", "enum": list(FHIR_VERSIONS)},
            "displayName": {"type": "string"},
            "enabled": {"type": "boolean"},
            "allowWrites": {"type": "boolean"},
            "batchMode": {"type": "string", "enum": ["passthrough", "fanout"]},
            "privateNetwork": {"type": "boolean"},
            "timeouts": {
                "type": "object",
                "properties": {"connectSeconds": {"type": ["number", "null"]},
                               "readSeconds": {"type": ["number", "null"]}},
            },
            "upstreamAuth": _ref("UpstreamAuth"),
            "createdOn": _NULLABLE_TIMESTAMP,
            "updatedOn": _NULLABLE_TIMESTAMP,
            "etag": {"type": ["string", "null"]},
        },
    },
    "RoutePage": _page("Route"),
    "ClientAuthSecret": {
        "type": "object",
        "additionalProperties": False,
        "required": ["method"],
        "description": "Gateway-issued client secrets (client_secret_basic or client_secret_post), the default.",
        "properties": {"method": {"type": "string", "const": "client_secret"}},
    },
    "Jwks": {
        "type": "object",
        "required": ["keys"],
        "description": "A JSON Web Key Set (RFC 7517 §5) of public keys only: RSA of 2048 bits or more, or EC "
                       "P-256/P-384, each with its own `kid`. A private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, "
                       "`oth`, `k`) is refused with 422 naming it.",
        "properties": {"keys": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "object"}}},
    },
    "ClientAuthPrivateKeyJwt": {
        "type": "object",
        "additionalProperties": False,
        "required": ["method"],
        "description": "Signed JWT client assertions (RFC 7523, SMART Backend Services): exactly one of `jwksUrl` "
                       "(https only in production; no private, loopback or metadata addresses) or `jwks`. "
                       "Assertions are signed with RS384 or ES384 (RS256/ES256 when CLIENT_ASSERTION_ALLOW_SHA256), "
                       "`aud` = the token endpoint URL, `exp` at most five minutes ahead, a `jti` never reused. "
                       "Such a client has no secrets.",
        "properties": {
            "method": {"type": "string", "const": "private_key_jwt"},
            "jwksUrl": {"type": "string", "format": "uri", "maxLength": 2048},
            "jwks": _ref("Jwks"),
        },
    },
    "ClientAuthentication": {
        "description": "How the client authenticates at the token endpoint.",
        "oneOf": [_ref("ClientAuthSecret"), _ref("ClientAuthPrivateKeyJwt")],
        "discriminator": {
            "propertyName": "method",
            "mapping": {
                "client_secret": "#/components/schemas/ClientAuthSecret",
                "private_key_jwt": "#/components/schemas/ClientAuthPrivateKeyJwt",
            },
        },
    },
    "ClientAuthenticationView": {
        "type": "object",
        "required": ["method"],
        "properties": {
            "method": {"type": "string", "enum": ["client_secret", "private_key_jwt"]},
            "jwksUrl": {"type": ["string", "null"]},
            "jwks": {"type": ["object", "null"], "description": "The client's public keys as registered."},
        },
    },
    "ClientCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["displayName", "allowedTenants"],
        "properties": {
            "displayName": _DISPLAY_NAME,
            "allowedTenants": {**_ALLOWED_TENANTS, "description": "Tenant GUIDs, or [\"*\"] for every tenant."},
            "enabled": {"type": "boolean", "default": True},
            "allowedScopes": _ALLOWED_SCOPES,
            "authentication": _ref("ClientAuthentication"),
        },
    },
    "ClientPatch": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "description": "Fields to change. `enabled: false` is the kill switch. `authentication` replaces a "
                       "private_key_jwt client's `jwks` or `jwksUrl` (its method cannot change).",
        "properties": {
            "displayName": _DISPLAY_NAME,
            "allowedTenants": _ALLOWED_TENANTS,
            "enabled": {"type": "boolean"},
            "allowedScopes": _ALLOWED_SCOPES,
            "authentication": _ref("ClientAuthentication"),
        },
    },
    "SecretMetadata": {
        "type": "object",
        "required": ["secretId", "hint", "createdOn", "expiresOn", "expired"],
        "properties": {
            "secretId": {"type": "string"},
            "hint": {"type": "string", "description": "Last characters of the secret."},
            "createdOn": _TIMESTAMP,
            "expiresOn": _TIMESTAMP,
            "expired": {"type": "boolean"},
        },
    },
    "Client": {
        "type": "object",
        "required": ["clientId", "displayName", "allowedTenants", "enabled", "secrets", "authentication",
                     "allowedScopes", "etag"],
        "properties": {
            "clientId": {"type": "string"},
            "displayName": {"type": "string"},
            "allowedTenants": {"type": "array", "items": {"type": "string"}},
            "enabled": {"type": "boolean"},
            "authentication": _ref("ClientAuthenticationView"),
            "allowedScopes": {"type": "string"},
            "secrets": {"type": "array", "items": _ref("SecretMetadata")},
            "createdOn": _NULLABLE_TIMESTAMP,
            "updatedOn": _NULLABLE_TIMESTAMP,
            "etag": {"type": ["string", "null"]},
        },
    },
    "ClientPage": _page("Client"),
    "NewSecret": {
        "type": "object",
        "required": ["clientId", "secretId", "clientSecret", "secretExpiresOn", "hint", "warning"],
        "properties": {
            **_NEW_SECRET,
            "hint": {"type": "string"},
            "warning": {"type": "string"},
        },
    },
    "NewClient": {
        "type": "object",
        "description": "A client_secret client comes with its first secret; a private_key_jwt client has none.",
        "required": ["clientId", "client"],
        "properties": {
            **_NEW_SECRET,
            "warning": {"type": "string"},
            "client": _ref("Client"),
        },
    },
    "SigningKey": {
        "type": "object",
        "required": ["kid", "alg"],
        "properties": {
            "kid": {"type": "string"},
            "alg": {"type": "string"},
            "createdOn": _NULLABLE_TIMESTAMP,
            "status": {"type": ["string", "null"]},
            "retireAfter": _NULLABLE_TIMESTAMP,
        },
    },
    "SigningKeyList": _list("SigningKey"),
    "EnsureResult": {
        "type": "object",
        "required": ["created"],
        "properties": {
            "created": {"type": "array", "items": {"type": "string"},
                        "description": "What was missing and was created (empty when nothing was)."},
        },
    },
    "ProviderKeyVersion": {
        "type": "object",
        "required": ["kid", "version", "status", "createdOn", "activatesOn"],
        "properties": {
            "kid": {"type": "string", "description": "JWK thumbprint (RFC 7638): the `kid` of the published JWK "
                                                     "and of the assertions it signs."},
            "version": {"type": "string", "description": "Key Vault key version."},
            "status": {"type": "string", "enum": ["pending", "active", "previous", "retired"],
                       "description": "`pending`: published, signs from `activatesOn`; `active`: signs; "
                                      "`previous`: superseded, published until `retiresOn`; `retired`."},
            "createdOn": _TIMESTAMP,
            "activatesOn": _TIMESTAMP,
            "retiresOn": _NULLABLE_TIMESTAMP,
        },
    },
    "ProviderKey": {
        "type": "object",
        "required": ["name", "keyName", "alg", "jwksUrl", "versions"],
        "properties": {
            "name": {"type": "string", "description": "`<keyName>-rs384` or `<keyName>-es384`."},
            "keyName": {"type": "string"},
            "alg": {"type": "string", "enum": ["RS384", "ES384"]},
            "jwksUrl": {"type": "string", "description": "Where providers fetch its public keys."},
            "versions": {"type": "array", "items": _ref("ProviderKeyVersion")},
        },
    },
    "ProviderKeyList": _list("ProviderKey"),
    "AuditRecord": {
        "type": "object",
        "required": ["recordId", "timestamp", "actor", "action", "targetType", "targetId", "outcome"],
        "properties": {
            "recordId": {"type": "string"},
            "timestamp": _TIMESTAMP,
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "targetType": {"type": "string"},
            "targetId": {"type": "string"},
            "requestId": {"type": "string"},
            "sourceAddress": {"type": "string"},
            "outcome": {"type": "string",
                        "description": "`success`; `refused` (a credential change the rules refuse, with "
                                       "`details.reason`); `failed:<status> <reason>` (any other refusal)."},
            "details": {"type": "object",
                        "description": "`changes`: each changed field as {old, new} (secrets as \"(set)\", "
                                       "\"(replaced)\" or null, never a value); `completedAfterAnswer`: a "
                                       "deletion or rotation whose last step landed after a 503 answer."},
        },
    },
    "AuditPage": _page("AuditRecord"),
}

_PROBLEM_CONTENT = {"application/problem+json": {"schema": _ref("Problem")}}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                "schema": {"type": "string"}}}
_ETAG_HEADER = {"ETag": {"description": "Entity tag; send it back in If-Match.", "schema": {"type": "string"}}}


def _response(description: str, content: dict[str, Any], headers: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": content}
    if headers:
        out["headers"] = headers
    return out


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return _response(description, _PROBLEM_CONTENT, headers)


RESPONSES: dict[str, Any] = {
    "BadRequest": _problem("Malformed request: bad JSON, bad path or query parameter."),
    "Unauthorized": {"description": "Missing or wrong function key (answered by the Functions host; no body), or, "
                                    "with ADMIN_AUTH_AUDIENCE set, a missing or invalid Entra ID bearer token "
                                    "(problem details and `WWW-Authenticate: Bearer`)."},
    "Forbidden": _problem("The Entra ID token lacks the required app role (ADMIN_REQUIRED_ROLE)."),
    "NotFound": _problem("No such route, client, secret or path."),
    "MethodNotAllowed": _problem("The method is not supported on this path.",
                                 {"Allow": {"schema": {"type": "string"}}}),
    "Conflict": _problem("The change conflicts with the current state (e.g. a third active secret)."),
    "PreconditionFailed": _problem("If-Match does not match the current ETag."),
    "TooLarge": _problem("The body exceeds MAX_REQUEST_BODY_BYTES."),
    "UnsupportedMediaType": _problem("The body is not application/json."),
    "Unprocessable": _problem("The body is invalid or a rule refuses it (a managed-identity scope for another "
                              "resource, a stored provider secret whose binding fields change without it); "
                              "`errors` names each field."),
    "Unavailable": _problem("A backing store is unavailable or did not answer within STORE_TIMEOUT_SECONDS; "
                            "nothing was changed (anything started is undone).", _RETRY_AFTER),
}


def _errors(*codes: str) -> dict[str, Any]:
    names = {"400": "BadRequest", "401": "Unauthorized", "403": "Forbidden", "404": "NotFound",
             "405": "MethodNotAllowed", "409": "Conflict", "412": "PreconditionFailed", "413": "TooLarge",
             "415": "UnsupportedMediaType", "422": "Unprocessable", "503": "Unavailable"}
    common = ("400", "401", "403", "404", "405", "503")
    return {code: {"$ref": f"#/components/responses/{names[code]}"} for code in (*common, *codes)}


def _json(schema: str, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return _response(description, {"application/json": {"schema": _ref(schema)}}, headers)


_BODY_ERRORS = ("413", "415", "422")

PARAMETERS: dict[str, Any] = {
    "tenantId": {"name": "tenantId", "in": "path", "required": True, "description": "Customer's Azure AD tenant GUID.",
                 "schema": {"type": "string", "format": "uuid"}},
    "clientId": {"name": "clientId", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
    "secretId": {"name": "secretId", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": SECRET_ID_PATTERN}},
    "ifMatch": {"name": "If-Match", "in": "header", "required": False,
                "description": "ETag the change is based on; a stale one gives 412.", "schema": {"type": "string"}},
    "providerKeyName": {"name": "keyName", "in": "path", "required": True,
                        "description": "`<keyName>-rs384` or `<keyName>-es384`, e.g. `gateway-rs384`.",
                        "schema": {"type": "string", "pattern": PROVIDER_KEY_PATTERN}, "example": "gateway-rs384"},
    "pageSize": {"name": "pageSize", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 100}},
    "rebuildIndex": {"name": "rebuildIndex", "in": "query", "required": False,
                     "description": "`true`: write the legacy client id index again (after importing clients "
                                    "with ids of their own).", "schema": {"type": "string", "enum": ["true", "false"]}},
    "continuation": {"name": "continuation", "in": "query", "required": False,
                     "description": "Opaque token from a previous page's nextLink.", "schema": {"type": "string"}},
    "since": {"name": "since", "in": "query", "required": False, "description": "ISO 8601 (inclusive).",
              "schema": {"type": "string", "format": "date-time"}},
    "until": {"name": "until", "in": "query", "required": False, "description": "ISO 8601 (exclusive).",
              "schema": {"type": "string", "format": "date-time"}},
}


def _p(*names: str) -> list[dict[str, str]]:
    return [{"$ref": f"#/components/parameters/{n}"} for n in names]


def _body(schema: str, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(schema)}}}


PATHS: dict[str, Any] = {
    "/manage/routes": {
        "get": {"operationId": "listRoutes", "summary": "List tenant routes (paged).", "tags": ["routes"],
                "parameters": _p("pageSize", "continuation"),
                "responses": {"200": _json("RoutePage", "A page of routes."), **_errors()}},
    },
    "/manage/routes/{tenantId}": {
        "parameters": _p("tenantId"),
        "get": {"operationId": "getRoute", "summary": "Read a tenant's route.", "tags": ["routes"],
                "responses": {"200": _json("Route", "The route.", _ETAG_HEADER), **_errors()}},
        "put": {"operationId": "putRoute", "summary": "Create (201) or replace (200) a tenant's route.",
                "tags": ["routes"], "parameters": _p("ifMatch"), "requestBody": _body("RouteInput"),
                "responses": {"200": _json("Route", "Replaced.", _ETAG_HEADER),
                              "201": _json("Route", "Created.", _ETAG_HEADER),
                              **_errors("412", *_BODY_ERRORS)}},
        "delete": {"operationId": "deleteRoute", "summary": "Delete a tenant's route.", "tags": ["routes"],
                   "parameters": _p("ifMatch"),
                   "responses": {"204": {"description": "Deleted."}, **_errors("412")}},
    },
    "/manage/clients": {
        "get": {"operationId": "listClients", "summary": "List clients (paged).", "tags": ["clients"],
                "parameters": _p("pageSize", "continuation"),
                "responses": {"200": _json("ClientPage", "A page of clients."), **_errors()}},
        "post": {"operationId": "createClient",
                 "summary": "Create a client and its first secret (shown once), or a private_key_jwt client.",
                 "tags": ["clients"], "requestBody": _body("ClientCreate"),
                 "responses": {"201": _json("NewClient", "Created; store clientSecret now.",
                                            {"Location": {"schema": {"type": "string"}}, **_ETAG_HEADER}),
                               **_errors(*_BODY_ERRORS)}},
    },
    "/manage/clients/{clientId}": {
        "parameters": _p("clientId"),
        "get": {"operationId": "getClient", "summary": "Read a client and its secrets' metadata.",
                "tags": ["clients"], "responses": {"200": _json("Client", "The client.", _ETAG_HEADER), **_errors()}},
        "patch": {"operationId": "updateClient",
                  "summary": "Change displayName, allowedTenants, enabled, allowedScopes or a private_key_jwt "
                             "client's keys.",
                  "tags": ["clients"], "parameters": _p("ifMatch"), "requestBody": _body("ClientPatch"),
                  "responses": {"200": _json("Client", "Updated.", _ETAG_HEADER),
                                **_errors("412", *_BODY_ERRORS)}},
        "delete": {"operationId": "deleteClient", "summary": "Delete a client, its secrets and verifiers.",
                   "tags": ["clients"], "parameters": _p("ifMatch"),
                   "responses": {"204": {"description": "Deleted."}, **_errors("412")}},
    },
    "/manage/clients/{clientId}/secrets": {
        "parameters": _p("clientId"),
        "post": {"operationId": "addSecret", "summary": "Add a secret (at most two active; shown once).",
                 "tags": ["clients"],
                 "responses": {"201": _json("NewSecret", "Created; store clientSecret now."),
                               **_errors("409", "413")}},
    },
    "/manage/clients/{clientId}/secrets/{secretId}": {
        "parameters": _p("clientId", "secretId"),
        "delete": {"operationId": "revokeSecret", "summary": "Revoke a secret.", "tags": ["clients"],
                   "responses": {"204": {"description": "Revoked."}, **_errors("409")}},
    },
    "/manage/signing-keys": {
        "get": {"operationId": "listSigningKeys", "summary": "List token signing keys.", "tags": ["signing-keys"],
                "responses": {"200": _json("SigningKeyList", "The keys."), **_errors()}},
        "post": {"operationId": "rotateSigningKey",
                 "summary": "Rotate: a new key signs; the previous one stays published until its tokens expire.",
                 "tags": ["signing-keys"],
                 "responses": {"201": _json("SigningKey", "The new key."), **_errors("413")}},
    },
    "/manage/provider-keys": {
        "get": {"operationId": "listProviderKeys",
                "summary": "List the keys the gateway signs provider assertions with (privateKeyJwt routes).",
                "tags": ["provider-keys"],
                "responses": {"200": _json("ProviderKeyList", "The keys and their versions."), **_errors()}},
    },
    "/manage/provider-keys/{keyName}/rotate": {
        "parameters": _p("providerKeyName"),
        "post": {"operationId": "rotateProviderKey",
                 "summary": "Rotate: a new version is published at once and signs after the activation delay "
                            "(PROVIDER_JWKS_MAX_AGE_SECONDS + worker cache + margin); the previous one stays "
                            "published until no assertion it signed can be valid.",
                 "tags": ["provider-keys"],
                 "responses": {"201": _json("ProviderKey", "Rotated: the key with its new version."),
                               **_errors("413")}},
    },
    "/manage/audit": {
        "get": {"operationId": "listAudit", "summary": "Audit records, newest first (paged).", "tags": ["audit"],
                "parameters": _p("since", "until", "pageSize", "continuation"),
                "responses": {"200": _json("AuditPage", "A page of records."), **_errors()}},
    },
    "/manage/ensure": {
        "post": {"operationId": "ensureDeployment",
                 "summary": "Create what workers need before traffic and never create themselves: the signing key "
                            "and its index, the client id key, the legacy client id index. Idempotent; deployments "
                            "run it.",
                 "tags": ["signing-keys"], "parameters": _p("rebuildIndex"),
                 "responses": {"200": _json("EnsureResult", "What was created."), **_errors("413")}},
    },
    "/manage/openapi.json": {
        "get": {"operationId": "getOpenApi", "summary": "This document.", "tags": ["meta"],
                "responses": {"200": {"description": "OpenAPI 3.1 document.",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              **_errors()}},
    },
}

COMPONENTS: dict[str, Any] = {
    "schemas": SCHEMAS,
    "responses": RESPONSES,
    "parameters": PARAMETERS,
    "securitySchemes": {
        "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                        "description": "The admin_fn function key, checked by the Functions host (401 without it). "
                                       "The host also accepts it as the `code` query parameter; prefer the header "
                                       "(query strings end up in logs)."},
        "entraToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "An Entra ID v2.0 access token for ADMIN_AUTH_AUDIENCE with the app role "
                                      "ADMIN_REQUIRED_ROLE, verified by the app (required with the function key "
                                      "when ADMIN_AUTH_AUDIENCE is set)."},
    },
}

_ROOT = {"components": COMPONENTS}


def schema_root() -> dict[str, Any]:
    """The document root that ``$ref`` values resolve against (for the validator)."""
    return _ROOT


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with the server URL taken from PUBLIC_BASE_URL."""
    components = copy.deepcopy(COMPONENTS)
    version = components["schemas"]["RouteInput"]["properties"]["fhirVersion"]
    version["enum"] = [settings.fhir_version]  # this gateway accepts only the version it advertises
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Interop partner gateway: admin API",
            "version": "1.0.0",
            "description": "Tenant routes, OAuth clients and secrets, signing keys and the audit trail. "
                           "Authenticated by the Functions host (function key) and, when ADMIN_AUTH_AUDIENCE is "
                           "set, by an Entra ID access token with the app role ADMIN_REQUIRED_ROLE, verified by "
                           "the app. Errors are RFC 9457 "
                           f"problem details. The gateway advertises FHIR {settings.fhir_version}.",
        },
        "servers": [{"url": settings.public_base_url}],
        "security": [{"functionKey": [], "entraToken": []} if settings.admin_entra_auth else {"functionKey": []}],
        "paths": copy.deepcopy(PATHS),
        "components": components,
    }
