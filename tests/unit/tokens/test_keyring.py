"""The key ring on the in-memory secret store with a fake clock: found through its index (never a listing),
never created by a worker, rotated and retired by the admin side, cached, and hard to make call Key Vault."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.credentials import signing_key_secret_name
from gateway.services import Services
from gateway.stores.errors import StoreUnavailable
from gateway.tokens import keyring
from gateway.tokens.key_index import index_secret_name
from gateway.tokens.keyring import NoSigningKey
from gateway.tokens.keys import new_kid, private_key_from_pem
from tests.support.vault import CountingStore


def twin(services: Services) -> Services:
    """A second worker: same stores, its own per-worker components."""
    return Services(settings=services.settings, routes=services.routes, clients=services.clients,
                    audit=services.audit, secrets=services.secrets, clock=services.clock)


async def test_a_cold_worker_reads_the_index_and_the_active_key_and_never_lists(services, vault):
    """Three Key Vault calls at most, whatever the vault holds (here the first key only: two)."""
    key = await services.key_ring.signing_key()
    assert vault.calls == {"get": 2}
    stored = await vault.inner.get(signing_key_secret_name("gw", key.kid))
    assert private_key_from_pem(stored.value).private_numbers() == key.private_key.private_numbers()
    for _ in range(10):
        await services.key_ring.signing_key()
        await services.key_ring.jwks()
    assert vault.calls == {"get": 2}


async def test_a_worker_never_creates_a_key_and_asks_again_only_after_a_while(services, empty_vault, clock, caplog):
    caplog.set_level(logging.ERROR, "gateway.tokens.keyring")
    for _ in range(5):
        with pytest.raises(NoSigningKey):
            await services.key_ring.signing_key()
    assert empty_vault.calls == {"get": 1}
    assert "gateway-admin ensure" in caplog.text
    clock.advance(keyring.NO_KEY_RETRY_SECONDS * 1.5)
    with pytest.raises(StoreUnavailable):
        await services.key_ring.signing_key()
    assert empty_vault.calls == {"get": 2}


async def test_ensure_creates_the_first_key_once_and_every_worker_signs_with_it(services, empty_vault):
    created = await services.signing_key_admin.ensure()
    assert created is not None and created.status == "active" and created.generation == 1
    assert await services.signing_key_admin.ensure() is None
    assert empty_vault.calls["list"] == 1  # looked for keys of an earlier version, once
    assert (await twin(services).key_ring.signing_key()).kid == created.kid
    assert (await services.key_ring.signing_key()).kid == created.kid
    assert [i.kid for i in await services.signing_key_admin.list_keys()] == [created.kid]


async def test_ensure_indexes_the_keys_an_earlier_version_left_in_the_vault(services, empty_vault, clock):
    from gateway.tokens.key_admin import new_key

    old, write = new_key("gw", 3, clock.now())
    await empty_vault.inner.set(write.name, write.value, tags=write.tags)
    await empty_vault.inner.set("gw-signing-20260101000000-0000000000000000", "not a pem",
                          tags={"kid": "20260101000000-0000000000000000", "alg": "RS256"})  # not a key of ours
    await empty_vault.inner.set("gw-client-x-y", "verifier")
    assert (await services.signing_key_admin.ensure()).kid == old.kid
    assert (await services.key_ring.signing_key()).kid == old.kid
    assert (await services.signing_key_admin.rotate()).generation == 4


async def test_concurrent_rotations_on_several_workers_keep_every_key(services):
    services.secrets = CountingStore(services.secrets, yielding=True)
    workers = [twin(services) for _ in range(4)]
    rotated = await asyncio.gather(*(w.signing_key_admin.rotate() for w in workers))
    named = {i.kid for i in await services.signing_key_admin.list_keys()}
    assert {r.kid for r in rotated} <= named
    for worker in workers:
        for info in rotated:
            assert await worker.key_ring.verification_key(info.kid) is not None


async def test_rotation_keeps_the_previous_key_until_its_tokens_expired(services, clock):
    ring, admin = services.key_ring, services.signing_key_admin
    old = await ring.signing_key()
    new = await admin.rotate()
    assert new.status == "active" and (await ring.signing_key()).kid == new.kid
    infos = {i.kid: i for i in await admin.list_keys()}
    assert infos[old.kid].status == "previous"
    assert infos[old.kid].retire_after >= new.created_on + __import__("datetime").timedelta(
        seconds=services.settings.token_lifetime_seconds)
    assert {k["kid"] for k in (await ring.jwks())["keys"]} == {old.kid, new.kid}
    assert await ring.verification_key(old.kid) is not None
    assert [k.kid for k in await ring.published_signing_keys()] == [new.kid, old.kid]  # the active key first

    clock.advance((infos[old.kid].retire_after - clock.now()).total_seconds() + 1)
    assert [k["kid"] for k in (await ring.jwks())["keys"]] == [new.kid]
    assert await ring.verification_key(old.kid) is None
    assert [k.kid for k in await ring.published_signing_keys()] == [new.kid]
    newest = await admin.rotate()
    assert old.kid not in {i.kid for i in await admin.list_keys()}  # retired keys leave the index
    assert (await ring.signing_key()).kid == newest.kid


async def test_a_rotation_on_another_worker_is_seen_at_once_for_verification(services, vault):
    here = services.key_ring
    await here.signing_key()
    rotated = await twin(services).signing_key_admin.rotate()
    before = vault.calls["get"]
    assert await here.verification_key(rotated.kid) is not None  # a new kid: one refresh
    assert vault.calls["get"] - before == 3  # the index and the two keys it names


async def test_unknown_but_plausible_kids_refresh_at_most_once_a_minute(services, vault, clock):
    ring = services.key_ring
    await ring.signing_key()
    before = vault.calls["get"]
    for _ in range(50):
        assert await ring.verification_key(new_kid(clock.now())) is None
    assert vault.calls["get"] - before == 2  # one refresh: the index and the key
    clock.advance(keyring.UNKNOWN_KID_REFRESH_SECONDS - 1)
    assert await ring.verification_key(new_kid(clock.now())) is None
    assert vault.calls["get"] - before == 2
    clock.advance(1)
    assert await ring.verification_key(new_kid(clock.now())) is None
    assert vault.calls["get"] - before == 4


async def test_kids_that_cannot_be_ours_never_touch_the_store(services, vault, clock):
    from datetime import timedelta

    ring = services.key_ring
    await ring.signing_key()
    before = dict(vault.calls)
    old = new_kid(clock.now() - timedelta(seconds=keyring.KID_RACE_SECONDS + 1))
    future = new_kid(clock.now() + timedelta(seconds=keyring.KID_FUTURE_SECONDS + 1))
    for kid in ("", "../../x", "a" * 500, "20260101000000-XYZ", "20261399000000-0123456789abcdef", None, 7,
                {"kid": 1}, old, future):
        assert await ring.verification_key(kid) is None
    assert dict(vault.calls) == before


async def test_cached_keys_serve_while_key_vault_is_down(services, clock):
    ring = services.key_ring
    key = await ring.signing_key()
    services.secrets.available = False
    clock.advance(services.settings.signing_key_cache_seconds + 1)
    assert (await ring.signing_key()).kid == key.kid
    assert (await ring.jwks())["keys"]


async def test_no_cached_keys_and_key_vault_down_raises_store_unavailable(services):
    services.secrets.available = False
    with pytest.raises(StoreUnavailable):
        await services.key_ring.signing_key()


async def test_a_throttled_vault_is_asked_again_only_after_its_retry_after(services, vault, clock):
    ring = services.key_ring
    key = await ring.signing_key()
    vault.throttle = 30.0
    clock.advance(services.settings.signing_key_cache_seconds + 1)
    assert (await ring.signing_key()).kid == key.kid  # stale, served
    asked = vault.calls["get"]
    for step in range(29):
        clock.advance(1)
        assert (await ring.signing_key()).kid == key.kid
    assert vault.calls["get"] == asked
    vault.throttle = None
    clock.advance(30)
    await ring.signing_key()
    await asyncio.sleep(0)
    assert vault.calls["get"] > asked


async def test_a_busy_worker_refreshes_in_the_background_and_never_waits(services, vault, clock):
    ring = services.key_ring
    await ring.signing_key()
    gate = asyncio.Event()
    real_get = vault.inner.get

    async def slow_get(*args, **kwargs):
        await gate.wait()
        return await real_get(*args, **kwargs)

    vault.inner.get = slow_get
    clock.advance(services.settings.signing_key_cache_seconds * 0.75)
    await asyncio.wait_for(ring.signing_key(), 0.5)  # answered from the cache while the refresh waits
    gate.set()
    await asyncio.sleep(0.01)
    assert vault.calls["get"] == 4


async def test_jwks_never_contains_private_parts(services):
    await services.signing_key_admin.rotate()
    for jwk in (await services.key_ring.jwks())["keys"]:
        assert "d" not in jwk and jwk["kty"] == "EC" and jwk["alg"] == "ES256"


async def test_an_unreadable_index_is_no_key_and_ensure_writes_it_again(services):
    await services.secrets.set(index_secret_name("gw"), "{not json")
    with pytest.raises(NoSigningKey):
        await services.key_ring.signing_key()
    assert await services.signing_key_admin.ensure() is not None
    await services.key_ring.reload()
    assert await services.key_ring.signing_key()


async def test_invalidate_reloads(services):
    ring = services.key_ring
    first = await ring.signing_key()
    other = await twin(services).signing_key_admin.rotate()
    assert (await ring.signing_key()).kid == first.kid  # cached
    ring.invalidate()
    assert (await ring.signing_key()).kid == other.kid
