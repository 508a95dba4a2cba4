"""Client authentication at the token endpoint (RFC 6749 §2.3), its methods kept in a registry as authlib
keeps them: each method is a plain function that reads what a request presents by that method, None when the
request uses another. :data:`METHODS` lists them in the order they are tried; a request must use exactly one
(§2.3: "MUST NOT use more than one authentication method in each request"), so each method refuses a request
that also carries what a later one reads::

    private_key_jwt       client_assertion + client_assertion_type (RFC 7523 §2.2)   gateway.oauth.client_assertion
    client_secret_basic   HTTP Basic (RFC 7617), id and secret each form-urlencoded first (§2.3.1)
    client_secret_post    client_id and client_secret in the body (§2.3.1)

:class:`ClientAuthentication` holds the verifier of each method (``gateway.oauth.authentication`` for
secrets, ``gateway.oauth.assertion_auth`` for assertions) and checks what was presented with the one its
method names. SMART discovery advertises the registry's names (``gateway.fhir.smart``). A new method is
a reader here, its verifier, and one entry in :data:`METHODS`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote_plus

from gateway.http import Request
from gateway.oauth.assertion_names import PRIVATE_KEY_JWT
from gateway.oauth.errors import InvalidClient, InvalidRequest
from gateway.stores.models import Client

if TYPE_CHECKING:
    from gateway.oauth.client_assertion import ClientAssertion

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


def _private_key_jwt(request: Request, form: dict[str, str]) -> ClientAssertion | None:
    if "client_assertion_type" not in form and "client_assertion" not in form:
        return None  # another method's request: nothing of the assertion reader loaded or run
    # Imported here: the metadata function advertises these names and must not load the JWT library.
    from gateway.oauth.client_assertion import read_client_assertion

    return read_client_assertion(form, authorization_header=bool(request.headers.get_all("authorization")))


Reader = Callable[[Request, dict[str, str]], "ClientAssertion | ClientCredentials | None"]

METHODS: Mapping[str, Reader] = {
    PRIVATE_KEY_JWT: _private_key_jwt,
    BASIC: _basic,
    POST: _post,
}
"""Every client authentication method (RFC 8414 §2 ``token_endpoint_auth_methods_supported`` names), in the
order they are tried."""


def presented_credentials(request: Request, form: dict[str, str]) -> ClientAssertion | ClientCredentials:
    """What the client presented by exactly one registered method; InvalidClient when it presented nothing."""
    for read in METHODS.values():
        found = read(request, form)
        if found is not None:
            return found
    raise InvalidClient("client authentication required (client_secret_basic or client_secret_post)")


class Verifier(Protocol):
    """Checks one method's credentials: the enabled client they authenticate, else ``AuthenticationFailed``."""

    async def authenticate(self, presented: Any) -> Client: ...


class ClientAuthentication:
    """The token endpoint's client authentication: what a request presents (:func:`presented_credentials`),
    checked by the verifier registered for its method. ``verifiers`` maps every name of :data:`METHODS` to a
    function giving its verifier (built on first use: a worker that never sees an assertion never builds the
    assertion verifier)."""

    def __init__(self, verifiers: Mapping[str, Callable[[], Verifier]]) -> None:
        methods = set(verifiers)
        if methods != set(METHODS):
            raise ValueError("every client authentication method needs exactly one verifier")
        self._verifiers = dict(verifiers)

    async def authenticate(self, presented: ClientAssertion | ClientCredentials) -> Client:
        """The enabled client ``presented`` authenticates; ``AuthenticationFailed`` otherwise."""
        return await self._verifiers[presented.method]().authenticate(presented)
