"""Secret checking against cached verifiers: reload throttling and caching behaviour."""

from __future__ import annotations

import pytest

from gateway.oauth.authentication import AuthenticationFailed, client_authenticator
from gateway.oauth.client_auth import ClientCredentials
from tests.unit.oauth.helpers import CLIENT_ID, add_client


async def test_unknown_secret_ids_reload_the_record_at_most_once_per_interval(services, clock):
    secret = await add_client(services)
    reads = 0
    real_get = services.clients.get

    async def counting_get(client_id):
        nonlocal reads
        reads += 1
        return await real_get(client_id)

    services.clients.get = counting_get  # before the directory caches the bound method
    auth = client_authenticator(services)
    assert (await auth.authenticate(ClientCredentials(CLIENT_ID, secret, "client_secret_post"))).client_id == CLIENT_ID
    assert reads == 1
    for n in range(20):
        bogus = f"{n:016x}." + "A" * 43
        with pytest.raises(AuthenticationFailed, match="unknown secret id"):
            await auth.authenticate(ClientCredentials(CLIENT_ID, bogus, "client_secret_post"))
    assert reads == 2  # one reload for twenty unknown ids
    clock.advance(2)
    with pytest.raises(AuthenticationFailed):
        await auth.authenticate(ClientCredentials(CLIENT_ID, "ffffffffffffffff." + "A" * 43, "client_secret_post"))
    assert reads == 3


async def test_verifier_is_read_once_while_fresh(services):
    secret = await add_client(services)
    reads = 0
    real_get = services.secrets.get

    async def counting_get(name, version=None):
        nonlocal reads
        reads += 1
        return await real_get(name, version)

    services.secrets.get = counting_get
    auth = client_authenticator(services)
    for _ in range(10):
        await auth.authenticate(ClientCredentials(CLIENT_ID, secret, "client_secret_post"))
    assert reads == 1


async def test_missing_verifier_is_refused(services):
    secret = await add_client(services)
    for item in await services.secrets.list():
        await services.secrets.delete(item.name)
    with pytest.raises(AuthenticationFailed, match="no verifier"):
        await client_authenticator(services).authenticate(ClientCredentials(CLIENT_ID, secret, "client_secret_post"))
