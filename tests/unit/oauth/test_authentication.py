"""Secret checking against cached verifiers: reload throttling and caching behaviour."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.credentials import secret_id_of, verifier_secret_name
from gateway.oauth import authentication
from gateway.oauth.authentication import AuthenticationFailed
from gateway.oauth.client_auth import ClientCredentials
from tests.support.constants import CLIENT_ID
from tests.unit.oauth.helpers import add_client


async def test_unknown_secret_ids_reload_the_record_at_most_once_per_interval(services, clock):
    secret = await add_client(services)
    reads = 0
    real_get = services.clients.get

    async def counting_get(client_id):
        nonlocal reads
        reads += 1
        return await real_get(client_id)

    services.clients.get = counting_get  # before the directory caches the bound method
    auth = services.client_authenticator
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
    auth = services.client_authenticator
    for _ in range(10):
        await auth.authenticate(ClientCredentials(CLIENT_ID, secret, "client_secret_post"))
    assert reads == 1


async def test_missing_verifier_is_refused(services):
    secret = await add_client(services)
    for item in await services.secrets.list():
        await services.secrets.delete(item.name)
    with pytest.raises(AuthenticationFailed, match="no verifier"):
        await services.client_authenticator.authenticate(ClientCredentials(CLIENT_ID, secret, "client_secret_post"))


def creds(secret: str, client_id: str = CLIENT_ID) -> ClientCredentials:
    return ClientCredentials(client_id, secret, "client_secret_post")


async def verifier_name(services, secret: str) -> str:
    return verifier_secret_name(services.settings.key_vault_secret_prefix, CLIENT_ID, secret_id_of(secret))


async def test_a_secret_expires_exactly_at_its_expiry(services, clock):
    secret = await add_client(services, lifetime_days=1)
    auth = services.client_authenticator
    clock.advance(86400 - 1)
    assert (await auth.authenticate(creds(secret))).client_id == CLIENT_ID
    clock.advance(1)  # expires_on == now
    with pytest.raises(AuthenticationFailed, match="secret expired"):
        await auth.authenticate(creds(secret))


@pytest.mark.parametrize("change", [{"enabled": False}, {"expires_on": "now"}, {"expires_on": "past"}])
async def test_a_disabled_or_expired_verifier_is_refused(services, clock, change):
    secret = await add_client(services)
    name = await verifier_name(services, secret)
    if "expires_on" in change:
        when = clock.now() - (timedelta(seconds=1) if change["expires_on"] == "past" else timedelta(0))
        await services.secrets.update(name, expires_on=when)
    else:
        await services.secrets.update(name, **change)
    with pytest.raises(AuthenticationFailed, match="revoked|expired"):
        await services.client_authenticator.authenticate(creds(secret))


async def test_a_verifier_expiring_later_still_works(services, clock):
    secret = await add_client(services)
    await services.secrets.update(await verifier_name(services, secret), expires_on=clock.now() + timedelta(seconds=1))
    assert (await services.client_authenticator.authenticate(creds(secret))).client_id == CLIENT_ID


async def test_an_empty_verifier_is_refused(services):
    secret = await add_client(services)
    await services.secrets.set(await verifier_name(services, secret), "")
    with pytest.raises(AuthenticationFailed, match="no verifier"):
        await services.client_authenticator.authenticate(creds(secret))


async def test_a_disabled_client_is_refused_even_with_the_right_secret(services):
    secret = await add_client(services, enabled=False)
    with pytest.raises(AuthenticationFailed, match="disabled"):
        await services.client_authenticator.authenticate(creds(secret))


async def test_a_secret_of_another_client_is_refused(services):
    secret = await add_client(services)
    await add_client(services, "other-client")
    with pytest.raises(AuthenticationFailed, match="unknown secret id"):
        await services.client_authenticator.authenticate(creds(secret, "other-client"))


@pytest.mark.parametrize("presented", ["not-ours", "", "0123456789abcdef", "0123456789ABCDEF.abc"])
async def test_every_early_refusal_does_the_work_of_a_secret_check(services, monkeypatch, presented):
    await add_client(services)
    checked = []
    monkeypatch.setattr(authentication, "check_verifier", lambda v, p: checked.append(p) or False)
    for client_id in (CLIENT_ID, "no-such-client"):
        with pytest.raises(AuthenticationFailed):
            await services.client_authenticator.authenticate(creds(presented, client_id))
    assert checked == [presented, presented]
