"""OAuth 2.0 error responses, RFC 6749 §5.2 (https://www.rfc-editor.org/rfc/rfc6749#section-5.2).

Each error is a tiny class that renders itself as a :class:`gateway.http.Response`
(JSON ``error`` / ``error_description``, ``Cache-Control: no-store``). A 401
``invalid_client`` carries ``WWW-Authenticate: Basic`` when the client tried HTTP
Basic (§5.2). Beyond §5.2 the token endpoint answers 405, 413, 429 and 503 in
the same JSON shape, with ``Allow`` or ``Retry-After`` where RFC 9110 asks for it.
Descriptions are fixed texts: they never echo a secret, a token or request values.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.http import Response, json_response

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
REALM = "oauth2"


class OAuthError(Exception):
    error = "invalid_request"
    status = 400

    def __init__(self, description: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.extra_headers = dict(headers or {})

    def headers(self) -> dict[str, str]:
        return {**NO_STORE, **self.extra_headers}

    def response(self) -> Response:
        return json_response(self.status, {"error": self.error, "error_description": self.description},
                             headers=self.headers())


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed (401); ``basic`` when the client used the Authorization header."""

    error = "invalid_client"
    status = 401

    def __init__(self, description: str = "client authentication failed", *, basic: bool = False) -> None:
        super().__init__(description)
        self.basic = basic

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        if self.basic:
            headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
        return headers


class InvalidGrant(OAuthError):
    """Never raised by the client-credentials grant (it carries no grant to be invalid); kept for completeness."""

    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class UnsupportedResponseType(OAuthError):
    """RFC 6749 §4.1.2.1: answered by the authorization endpoint, which grants nothing here."""

    error = "unsupported_response_type"


class MethodNotAllowed(InvalidRequest):
    """RFC 9110 §15.5.6: 405 with ``Allow``."""

    status = 405

    def __init__(self, allowed: str) -> None:
        super().__init__(f"method not allowed; use {allowed}", headers={"Allow": allowed})


class RequestTooLarge(InvalidRequest):
    """RFC 9110 §15.5.14: 413."""

    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")


class TooManyFailures(OAuthError):
    """429 (RFC 6585 §4) with ``Retry-After`` after repeated failed client authentications."""

    error = "temporarily_unavailable"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed client authentications; retry later",
                         headers={"Retry-After": str(retry_after)})


class ServerError(OAuthError):
    """500: the token service could not handle the request (misconfigured, or an unexpected failure)."""

    error = "server_error"
    status = 500

    def __init__(self) -> None:
        super().__init__("the token service failed to handle the request")


class ServiceUnavailable(OAuthError):
    """503 with ``Retry-After``: a store is unreachable and nothing usable is cached."""

    error = "temporarily_unavailable"
    status = 503

    def __init__(self, retry_after: int = 5) -> None:
        super().__init__("the token service is temporarily unavailable; retry later",
                         headers={"Retry-After": str(retry_after)})
