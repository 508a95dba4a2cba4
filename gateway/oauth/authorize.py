"""``/oauth2/authorize``: the gateway has no user-facing grant, so the authorization endpoint answers the error
itself (RFC 6749 §4.1.2.1): ``unsupported_response_type``, never a redirect, there being no registered
redirect URI. It needs no stores and no token code: the token function answers it before opening either."""

from __future__ import annotations

from gateway.http import Request, Response
from gateway.oauth.errors import UnsupportedResponseType


def authorize_endpoint(request: Request) -> Response:
    """/oauth2/authorize: answer the error directly, never redirect."""
    return UnsupportedResponseType(
        "this server supports only the client_credentials grant at the token endpoint").response()
