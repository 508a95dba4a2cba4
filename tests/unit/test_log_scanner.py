"""The log scanner recognises every kind of credential the gateway handles."""

import jwt

from gateway.credentials import new_secret
from tests.fixtures.leaks import findings_in, register_sensitive


def test_client_secrets_are_recognised_by_shape():
    _, secret = new_secret()
    assert findings_in(f"token request client_secret={secret} failed")
    assert not findings_in("client_id=3f1c... outcome=invalid_client")


def test_jwts_are_recognised():
    token = jwt.encode({"sub": "client", "scope": "tenant"}, "k" * 32, algorithm="HS256")
    assert findings_in(f"Authorization: Bearer {token}")


def test_registered_values_are_recognised():
    register_sensitive("provider-secret-value-123")
    assert findings_in("calling provider with provider-secret-value-123")
    assert not findings_in("calling provider with ********")
