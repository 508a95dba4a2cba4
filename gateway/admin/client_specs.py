"""Admin input for how a client authenticates and what it may do: ``authentication`` and ``allowedScopes``.

``authentication`` (RFC 6749 §2.3; RFC 7523 §2.2; SMART App Launch 2.x Backend Services,
"Registering a client"):

- ``{"method": "client_secret"}`` (the default): gateway-issued secrets;
- ``{"method": "private_key_jwt", "jwksUrl": "https://..."}``: the client's JWKS URL, checked by
  ``gateway.oauth.jwks_fetcher.validate_jwks_url`` (https only in production, no private or
  metadata addresses: the SSRF rules of provider URLs);
- ``{"method": "private_key_jwt", "jwks": {"keys": [...]}}``: public keys only
  (``gateway.oauth.jwks``): a private member is a 422 naming it, never its value.

``allowedScopes``: space-separated SMART system scopes (``gateway.scopes``), stored in the
canonical v2 form (``system/Patient.read`` is kept as ``system/Patient.rs``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from gateway.admin.problems import FieldError, validation_failed
from gateway.config import Settings
from gateway.oauth.jwks import validate_public_jwks
from gateway.oauth.jwks_fetcher import validate_jwks_url
from gateway.scopes import ScopeSyntaxError, parse_allowed_scopes
from gateway.stores.models import ClientAuthentication

MAX_INLINE_JWKS_CHARS = 30_000
"""Inline JWKS text at most this long (a Table Storage string property holds 32K characters)."""
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


def client_authentication(value: Any, settings: Settings, *, field: str = "authentication") -> ClientAuthentication:
    """The validated ``authentication`` object (already schema-checked); 422 naming each problem."""
    if value is None:
        return ClientAuthentication()
    method = value.get("method")
    if method == "client_secret":
        extra = [name for name in ("jwksUrl", "jwks") if name in value]
        if extra:
            raise validation_failed([FieldError(f"{field}/{name}", "is only for method private_key_jwt")
                                     for name in extra])
        return ClientAuthentication()
    url, jwks = value.get("jwksUrl"), value.get("jwks")
    if (url is None) == (jwks is None):
        raise validation_failed([FieldError(field, "private_key_jwt needs exactly one of jwksUrl or jwks")])
    if url is not None:
        problems = validate_jwks_url(url, settings)
        if problems:
            raise validation_failed([FieldError(f"{field}/jwksUrl", problem) for problem in problems])
        return ClientAuthentication(method="private_key_jwt", jwks_url=url)
    problems = validate_public_jwks(jwks)
    if problems:
        raise validation_failed([FieldError(f"{field}/jwks", problem) for problem in problems])
    text = json.dumps(jwks, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    if len(text) > MAX_INLINE_JWKS_CHARS:
        raise validation_failed([FieldError(f"{field}/jwks", f"must be at most {MAX_INLINE_JWKS_CHARS} characters "
                                                             "as JSON; publish larger sets at a jwksUrl")])
    return ClientAuthentication(method="private_key_jwt", jwks=text)


def allowed_scopes(value: Any, *, field: str = "allowedScopes") -> str:
    """The canonical v2 text of the client's allowed SMART scopes; 422 when not valid or empty."""
    try:
        scopes = parse_allowed_scopes(value)
    except ScopeSyntaxError as error:
        raise validation_failed([FieldError(field, str(error))]) from None
    if not scopes:
        raise validation_failed([FieldError(field, "must name at least one SMART system scope")])
    return str(scopes)


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key: names a key in the audit trail."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty", ""), ("kty",))
    canonical = json.dumps({m: jwk.get(m) for m in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode("utf-8")).digest()).rstrip(b"=").decode()


def jwks_document(auth: ClientAuthentication) -> dict[str, Any] | None:
    """The inline JWKS as a JSON object (public keys only, as validated when saved)."""
    return json.loads(auth.jwks) if auth.jwks else None


def key_names(auth: ClientAuthentication) -> list[str] | None:
    """``kid#thumbprint`` of every inline key (the audit trail's view of a JWKS), None without one."""
    document = jwks_document(auth)
    if document is None:
        return None
    return [f"{key.get('kid')}#{jwk_thumbprint(key)}" for key in document.get("keys", [])]
