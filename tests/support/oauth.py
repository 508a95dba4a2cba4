"""Token requests and their forms: client credentials (RFC 6749 §4.4) with a secret (§2.3.1) or with a
client assertion (RFC 7523, SMART App Launch 2.x Backend Services)."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus, urlencode

from gateway.http import Headers, Request
from tests.support.constants import BASE_URL, FORM, TENANT

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: form-urlencode id and secret, then HTTP Basic."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def token_request(form: dict[str, str] | list[tuple[str, str]] | None = None, *, body: bytes | None = None,
                  method: str = "POST", headers: dict[str, str] | None = None, address: str = "203.0.113.7",
                  query: str = "", endpoint: str = "token") -> Request:
    """A request to ``/oauth2/{endpoint}`` from ``address`` (via ``X-Forwarded-For``), the form urlencoded
    unless a raw ``body`` is given; ``headers`` replace the defaults of the same name."""
    hdrs = Headers({"Content-Type": FORM, "X-Forwarded-For": f"{address}:50000"})
    for name, value in (headers or {}).items():
        hdrs.set(name, value)
    if body is None:
        body = urlencode(form or {}).encode()
    url = f"{BASE_URL}/oauth2/{endpoint}" + (f"?{query}" if query else "")
    return Request(method=method, url=url, headers=hdrs, route_params={"endpoint": endpoint}, body=body)


def post_form(client_id: str, secret: str, scope: str = TENANT, **extra: str) -> dict[str, str]:
    """A client credentials form with the secret in the body (``client_secret_post``, RFC 6749 §2.3.1)."""
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope,
            **extra}


def assertion_form(assertion: str, scope: str = TENANT, **extra: str) -> dict[str, str]:
    """A Backend Services token request (SMART App Launch 2.x: grant, assertion type, assertion, scope)."""
    return {"grant_type": "client_credentials", "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion, "scope": scope, **extra}
