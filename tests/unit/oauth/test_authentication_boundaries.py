"""Checking a client secret, exactly: the reason each refusal records (what the audit trail and the log
show an operator), how soon a revocation made elsewhere takes effect, and the per-client reload throttle
that lets a secret created on another worker work at once without letting random ids flood the store.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.credentials import secret_id_of, verifier_secret_name
from gateway.oauth import authentication
from gateway.oauth.authentication import RELOAD_INTERVAL_SECONDS, AuthenticationFailed
from gateway.oauth.client_auth import ClientCredentials
from tests.support.constants import CLIENT_ID
from tests.unit.oauth.helpers import add_client, add_secret


def creds(secret: str, client_id: str = CLIENT_ID) -> ClientCredentials:
    return ClientCredentials(client_id, secret, "client_secret_post")


def verifier_of(services, secret: str, client_id: str = CLIENT_ID) -> str:
    return verifier_secret_name(services.settings.key_vault_secret_prefix, client_id, secret_id_of(secret))


def wrong_tail(secret: str) -> str:
    """The same secret id with another secret after it."""
    return secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")


async def reason(services, credentials: ClientCredentials) -> str:
    with pytest.raises(AuthenticationFailed) as info:
        await services.client_authenticator.authenticate(credentials)
    return info.value.reason


def count_record_reads(services) -> list[str]:
    reads: list[str] = []
    real_get = services.clients.get

    async def counting_get(client_id):
        reads.append(client_id)
        return await real_get(client_id)

    services.clients.get = counting_get  # before the directory caches the bound method
    return reads


async def test_each_refusal_records_exactly_why(services, clock):
    secret = await add_client(services, lifetime_days=1)
    assert await reason(services, creds(secret, "nobody")) == "unknown client"
    assert await reason(services, creds("not-ours")) == "secret not of the gateway's format"
    assert await reason(services, creds("ffffffffffffffff." + "A" * 43)) == "unknown secret id"
    assert await reason(services, creds(wrong_tail(secret))) == "wrong secret"
    await services.secrets.update(verifier_of(services, secret), expires_on=clock.now())
    services.client_authenticator.invalidate(CLIENT_ID, secret_id_of(secret))
    assert await reason(services, creds(secret)) == "secret expired (verifier)"
    await services.secrets.delete(verifier_of(services, secret))
    services.client_authenticator.invalidate(CLIENT_ID, secret_id_of(secret))
    assert await reason(services, creds(secret)) == "secret revoked (no verifier)"
    clock.advance(86400)
    assert await reason(services, creds(secret)) == "secret expired"


async def test_a_disabled_client_records_why(services):
    secret = await add_client(services, enabled=False)
    assert await reason(services, creds(secret)) == "client disabled"


async def test_a_client_deleted_elsewhere_is_unknown(services):
    """The worker's list of ids still names the client, but the store no longer has it."""
    await add_client(services, "listed-then-deleted")
    other = await add_client(services)
    await services.client_authenticator.authenticate(creds(other))  # loads the list of ids
    deleted = await add_secret(services, "listed-then-deleted")
    await services.clients.delete("listed-then-deleted")
    assert await reason(services, creds(deleted, "listed-then-deleted")) == "unknown client"


async def test_a_client_deleted_after_it_was_cached_is_unknown_on_reload(services, clock):
    secret = await add_client(services)
    await services.client_authenticator.authenticate(creds(secret))  # the record is cached
    await services.clients.delete(CLIENT_ID)
    clock.advance(RELOAD_INTERVAL_SECONDS)
    assert await reason(services, creds("ffffffffffffffff." + "A" * 43)) == "unknown client"


async def test_a_revocation_on_another_worker_takes_effect_when_the_cache_expires(services, clock):
    secret = await add_client(services)
    auth = services.client_authenticator
    await auth.authenticate(creds(secret))
    await services.secrets.delete(verifier_of(services, secret))  # revoked by the admin API elsewhere
    clock.advance(services.settings.client_cache_seconds + 1)
    assert await reason(services, creds(secret)) == "secret revoked (no verifier)"


async def test_a_revocation_on_this_worker_takes_effect_at_once(services):
    secret = await add_client(services)
    auth = services.client_authenticator
    await auth.authenticate(creds(secret))
    await services.secrets.update(verifier_of(services, secret), enabled=False)
    auth.invalidate(CLIENT_ID, secret_id_of(secret))
    assert await reason(services, creds(secret)) == "secret revoked (no verifier)"


async def test_each_client_reloads_on_its_own(services):
    """A secret created on another worker works at once for every client, not only the first to reload."""
    first, second = await add_client(services, "first"), await add_client(services, "second")
    auth = services.client_authenticator
    await auth.authenticate(creds(first, "first"))
    await auth.authenticate(creds(second, "second"))
    new_first, new_second = await add_secret(services, "first"), await add_secret(services, "second")
    assert (await auth.authenticate(creds(new_first, "first"))).client_id == "first"
    assert (await auth.authenticate(creds(new_second, "second"))).client_id == "second"


async def test_a_reload_is_allowed_again_exactly_one_interval_later(services, clock):
    services.changes = None  # no change log: only the reload throttle can bring the new secret in
    secret = await add_client(services)
    auth = services.client_authenticator
    await auth.authenticate(creds(secret))
    assert await reason(services, creds("ffffffffffffffff." + "A" * 43)) == "unknown secret id"  # reloads
    created = await add_secret(services, CLIENT_ID)
    clock.advance(RELOAD_INTERVAL_SECONDS / 2)
    assert await reason(services, creds(created)) == "unknown secret id"  # throttled: not reloaded
    clock.advance(RELOAD_INTERVAL_SECONDS / 2)
    assert (await auth.authenticate(creds(created))).client_id == CLIENT_ID


async def test_the_reload_throttle_forgets_the_least_recent_client_first(services, monkeypatch):
    """When the throttle is full it drops its oldest entry: never the one an attacker just touched, which
    would let it reload the store on every attempt."""
    monkeypatch.setattr(authentication, "_MAX_RELOAD_ENTRIES", 2)
    names = ("a-client", "b-client", "c-client")
    for name in names:
        await add_client(services, name)
    reads = count_record_reads(services)
    auth = services.client_authenticator
    bogus = "ffffffffffffffff." + "A" * 43
    for name in names:  # each reloads once: a, then b, then c (a is dropped)
        assert await reason(services, creds(bogus, name)) == "unknown secret id"
    before = len(reads)
    for name in ("b-client", "c-client"):  # still throttled: no store read
        assert await reason(services, creds(bogus, name)) == "unknown secret id"
    assert len(reads) == before
    assert await reason(services, creds(bogus, "a-client")) == "unknown secret id"
    assert reads[before:] == ["a-client"]  # forgotten, so it may reload
    assert auth is services.client_authenticator


async def test_the_verifier_cache_is_the_services_clock(services, clock):
    """Within its lifetime the cached verifier answers, so Key Vault is read once per secret."""
    secret = await add_client(services)
    auth = services.client_authenticator
    await auth.authenticate(creds(secret))
    clock.advance(services.settings.client_cache_seconds - 1)
    await services.secrets.delete(verifier_of(services, secret))
    assert (await auth.authenticate(creds(secret))).client_id == CLIENT_ID
    clock.advance(timedelta(seconds=2).total_seconds())
    assert await reason(services, creds(secret)) == "secret revoked (no verifier)"
