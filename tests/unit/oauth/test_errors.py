"""OAuth error rendering (RFC 6749 §5.2): JSON body, status, no-store, WWW-Authenticate only for Basic."""

from __future__ import annotations

import json

import pytest

from gateway.oauth import errors


@pytest.mark.parametrize("cls,status,code", [
    (errors.InvalidRequest, 400, "invalid_request"),
    (errors.InvalidGrant, 400, "invalid_grant"),
    (errors.UnauthorizedClient, 400, "unauthorized_client"),
    (errors.UnsupportedGrantType, 400, "unsupported_grant_type"),
    (errors.InvalidScope, 400, "invalid_scope"),
    (errors.UnsupportedResponseType, 400, "unsupported_response_type"),
])
def test_400_errors(cls, status, code):
    response = cls("why").response()
    assert response.status == status
    assert json.loads(response.body) == {"error": code, "error_description": "why"}
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"


def test_invalid_client_basic_challenge_only_when_basic_was_used():
    assert "WWW-Authenticate" not in errors.InvalidClient().response().headers
    response = errors.InvalidClient(basic=True).response()
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="oauth2", charset="UTF-8"'


def test_status_errors_carry_their_headers():
    assert errors.MethodNotAllowed("POST").response().headers["Allow"] == "POST"
    assert errors.RequestTooLarge(10).response().status == 413
    limited = errors.TooManyFailures(17).response()
    assert limited.status == 429 and limited.headers["Retry-After"] == "17"
    down = errors.ServiceUnavailable().response()
    assert down.status == 503 and int(down.headers["Retry-After"]) > 0
