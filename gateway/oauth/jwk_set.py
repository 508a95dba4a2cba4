"""A published JWK Set (RFC 7517 §5): the answer of ``/oauth2/jwks`` and ``/oauth2/provider-jwks``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.http import Request, Response, json_response

CONTENT_TYPE = "application/jwk-set+json"
"""RFC 7517 §8.5.1."""


def jwk_set_response(request: Request, jwks: Mapping[str, Any], *, max_age: int) -> Response:
    """200 with ``jwks``, publicly cacheable for ``max_age`` seconds; the same headers without a body to HEAD."""
    response = json_response(200, jwks, content_type=CONTENT_TYPE,
                             headers={"Cache-Control": f"public, max-age={max_age}"})
    if request.method == "HEAD":
        response.body = b""
    return response
