"""The SMART Backend Services building blocks composed as the token endpoint and the proxy will use them,
on real parts: authlib's OAuth2Session sends the token request (recorded on a loopback server that also
serves the client's JWKS), two gateway instances share the Table Storage replay store on Azurite, and the
granted scopes decide proxied requests parsed by the proxy's own parsers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import pytest
from authlib.integrations.requests_client import OAuth2Session
from azure.data.tables.aio import TableServiceClient
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import RSAKey

from devtools.azurite import create_gateway_tables
from gateway.clock import SystemClock
from gateway.oauth.client_assertion import AssertionRejected, ClientAssertionVerifier, read_client_assertion
from gateway.oauth.jwks_fetcher import JwksFetcher
from gateway.proxy.access import parse_batch
from gateway.proxy.paths import check_path
from gateway.proxy.scope_check import ScopeRefused, check_scopes
from gateway.proxy.urls import normalize_query
from gateway.scopes import (
    ScopeRequestError,
    grant_from_claim,
    grant_scopes,
    parse_allowed_scopes,
    parse_scope_parameter,
)
from gateway.stores.tables.replay import TableReplayStore
from tests.fixtures.azurite import AzuriteService, unique_prefix
from tests.fixtures.common import make_settings
from tests.fixtures.provider import ProviderServer, Reply
from tests.support.constants import GW, TENANT
from tests.unit.oauth.keys import CLIENT_ID, five_minute_private_key_jwt, public_jwk, rsa_key

pytestmark = pytest.mark.integration



FiveMinutePrivateKeyJWT = five_minute_private_key_jwt()


@pytest.fixture
async def tables(azurite: AzuriteService) -> AsyncIterator[list[TableServiceClient]]:
    azurite.start()
    clients = [TableServiceClient.from_connection_string(azurite.connection_string) for _ in range(2)]
    yield clients
    for client in clients:
        await client.close()


def script(server: ProviderServer):
    """The loopback server: the client's JWKS at /jwks.json, a token answer anywhere else."""
    def reply(request, _server):
        if request.path == "/jwks.json":
            return Reply(body={"keys": [public_jwk(rsa_key(), "2026-03")]}, content_type="application/jwk-set+json",
                         headers={"Cache-Control": "max-age=600"})
        return Reply(body={"access_token": "at", "token_type": "Bearer", "expires_in": 60},
                     content_type="application/json")
    server.script = reply


def request_allowed(scopes, method: str, url: str, body: bytes = b"", content_type: str = "") -> bool:
    path, _, query = url.partition("?")
    checked = check_path(path)
    batch = parse_batch(body, content_type, GW) if method == "POST" and checked.is_base else None
    try:
        check_scopes(scopes, method, checked, normalize_query(query), body=body, content_type=content_type,
                     batch=batch)
    except ScopeRefused:
        return False
    return True


async def test_a_backend_service_authenticates_once_and_reads_within_its_scopes(provider, tables, azurite):
    script(provider)
    token_url = provider.origin + "/oauth2/token"
    jwks_url = provider.origin + "/jwks.json"
    pem = rsa_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    session = OAuth2Session(CLIENT_ID, RSAKey.import_key(pem), scope=f"{TENANT} system/Patient.rs system/Encounter.c",
                            token_endpoint_auth_method=FiveMinutePrivateKeyJWT(token_url, headers={"kid": "2026-03"},
                                                                              alg="RS384"))
    try:
        await asyncio.to_thread(session.fetch_token, token_url, grant_type="client_credentials")
    finally:
        session.close()
    form = dict(parse_qsl(next(r for r in provider.requests if r.path == "/oauth2/token").body.decode()))

    # Two gateway instances: each its own fetcher and verifier, one replay table.
    clock = SystemClock()
    prefix = unique_prefix()
    create_gateway_tables(azurite.connection_string, prefix)  # as a deployment does
    fetchers = [JwksFetcher(make_settings(), clock=clock) for _ in range(2)]
    verifiers = [ClientAssertionVerifier(token_url=token_url, replay=TableReplayStore.from_service(t, prefix, clock),
                                         clock=clock) for t in tables]
    try:
        assertion = read_client_assertion(form)
        verified = await verifiers[0].verify(assertion, assertion.client_id,
                                             fetchers[0].key_source(assertion.client_id, jwks_url))
        assert verified.client_id == CLIENT_ID and verified.algorithm == "RS384"
        with pytest.raises(AssertionRejected) as replayed:  # the same assertion at the other instance
            await verifiers[1].verify(assertion, assertion.client_id,
                                      fetchers[1].key_source(assertion.client_id, jwks_url))
        assert replayed.value.reason == "replayed"
    finally:
        for fetcher in fetchers:
            await fetcher.aclose()

    # The grant: asked ∩ allowed; Encounter.c is not allowed at all, so that request is invalid_scope ...
    allowed = parse_allowed_scopes("system/Patient.rs system/Observation.rs")
    with pytest.raises(ScopeRequestError):
        grant_scopes(parse_scope_parameter(form["scope"]), allowed)
    # ... and without it the token gets Patient only, written into its claim and read back by the proxy.
    grant = grant_scopes(parse_scope_parameter(f"{TENANT} system/Patient.rs"), allowed)
    assert grant.scope == f"{TENANT} system/Patient.rs"
    scopes = grant_from_claim(grant.scope).scopes

    assert request_allowed(scopes, "GET", "Patient/123")
    assert request_allowed(scopes, "POST", "Patient/_search", b"family=chau", "application/x-www-form-urlencoded")
    assert not request_allowed(scopes, "GET", "Observation?patient=123")
    assert not request_allowed(scopes, "GET", "Patient?_revinclude=Observation:subject")
    assert not request_allowed(scopes, "GET", "Patient/123/Observation")
    assert not request_allowed(scopes, "PUT", "Patient/123")
    batch = b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/1"}},' \
            b'{"request":{"method":"GET","url":"Observation?patient=1"}}]}'
    assert not request_allowed(scopes, "POST", "", batch, "application/fhir+json")
