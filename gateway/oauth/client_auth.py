"""Client authentication methods at the token endpoint, RFC 6749 §2.3.1.

Two methods, kept in a registry (the names advertised in the SMART document):
``client_secret_basic`` (HTTP Basic, RFC 7617, with the id and secret each
form-urlencoded first, as §2.3.1 requires) and ``client_secret_post`` (both in
the body). A request must use exactly one (§2.3: "MUST NOT use more than one
authentication method in each request").
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from gateway.http import Request
from gateway.oauth.errors import InvalidClient, InvalidRequest

MAX_CLIENT_ID_LENGTH = 128
MAX_SECRET_LENGTH = 512
BASIC = "client_secret_basic"
POST = "client_secret_post"


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    method: str

    @property
    def used_basic(self) -> bool:
        return self.method == BASIC

    def __repr__(self) -> str:  # never print the secret
        return f"ClientCredentials(client_id={self.client_id!r}, method={self.method!r})"


def _check(client_id: str, secret: str, *, basic: bool) -> None:
    if not client_id or len(client_id) > MAX_CLIENT_ID_LENGTH or not client_id.isprintable():
        raise InvalidClient("invalid client_id", basic=basic)
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        raise InvalidClient(basic=basic)


def _basic(request: Request, form: dict[str, str]) -> ClientCredentials | None:
    headers = request.headers.get_all("authorization")
    if not headers:
        return None
    if len(headers) > 1:
        raise InvalidRequest("repeated Authorization header")
    scheme, _, encoded = headers[0].strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("unsupported authentication scheme; use Basic or client_secret_post", basic=True)
    encoded = encoded.strip()
    try:
        raw = base64.b64decode(encoded)
        if base64.b64encode(raw) != encoded.encode():  # the one spelling: no stray characters, excess padding
            raise ValueError                            # or non-zero trailing bits
        decoded = raw.decode()  # UTF-8
    except (binascii.Error, ValueError):
        raise InvalidClient("malformed Basic credentials", basic=True) from None
    raw_id, _, raw_secret = decoded.partition(":")  # no colon: an empty secret, refused by _check
    client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    if "client_secret" in form:
        raise InvalidRequest("use exactly one client authentication method (Basic or client_secret_post)")
    if "client_id" in form and form["client_id"] != client_id:
        raise InvalidRequest("client_id in the body differs from the Basic credentials")
    _check(client_id, secret, basic=True)
    return ClientCredentials(client_id, secret, BASIC)


def _post(request: Request, form: dict[str, str]) -> ClientCredentials | None:
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if client_id is None and secret is None:
        return None
    if client_id is None or secret is None:
        raise InvalidClient("client_secret_post needs both client_id and client_secret")
    _check(client_id, secret, basic=False)
    return ClientCredentials(client_id, secret, POST)


AUTH_METHODS: dict[str, Callable[[Request, dict[str, str]], ClientCredentials | None]] = {
    BASIC: _basic,
    POST: _post,
}


def extract_credentials(request: Request, form: dict[str, str]) -> ClientCredentials:
    """The credentials the client presented by exactly one registered method; InvalidClient when none."""
    for method in AUTH_METHODS.values():
        found = method(request, form)
        if found is not None:
            return found
    raise InvalidClient("client authentication required (client_secret_basic or client_secret_post)")
