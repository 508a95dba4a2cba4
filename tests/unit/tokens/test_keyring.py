"""The key ring on the in-memory secret store with a fake clock: first start, rotation, retirement, caching."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from gateway.credentials import signing_key_secret_name
from gateway.services import Services
from gateway.stores.errors import StoreUnavailable
from gateway.tokens.keyring import KeyRing
from gateway.tokens.keys import private_key_from_pem


def twin(services: Services) -> Services:
    """A second worker: same stores, its own per-worker components."""
    return Services(settings=services.settings, routes=services.routes, clients=services.clients,
                    audit=services.audit, secrets=services.secrets, clock=services.clock)


async def test_first_use_creates_one_key_in_key_vault(services):
    key = await services.key_ring.signing_key()
    stored = await services.secrets.get(signing_key_secret_name("gw", key.kid))
    assert stored is not None and stored.tags["kid"] == key.kid and stored.tags["alg"] == "ES256"
    assert private_key_from_pem(stored.value).private_numbers() == key.private_key.private_numbers()
    assert [k.status for k in await services.key_ring.list_keys()] == ["active"]


async def test_key_ring_is_a_per_worker_component(services):
    assert services.key_ring is services.key_ring


async def test_second_worker_uses_the_existing_key(services):
    first = await services.key_ring.signing_key()
    second = await twin(services).key_ring.signing_key()
    assert first.kid == second.kid
    assert len(await services.key_ring.list_keys()) == 1


class YieldingSecrets:
    """The memory secret store, but every call yields to the loop first, as a network call would."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        method = getattr(self._inner, name)

        async def call(*args, **kwargs):
            await asyncio.sleep(0)
            return await method(*args, **kwargs)

        return call


async def test_concurrent_first_start_converges_and_every_key_verifies(services):
    services.secrets = YieldingSecrets(services.secrets)
    workers = [twin(services) for _ in range(8)]
    keys = await asyncio.gather(*(w.key_ring.signing_key() for w in workers))
    assert len(await services.key_ring.list_keys()) > 1  # the race really happened: several first keys
    # whatever each worker signed with is published and accepted by every worker
    for worker in workers:
        for key in keys:
            assert await worker.key_ring.verification_key(key.kid) is not None
    # after their caches expire, all workers agree on one active key
    services.clock.advance(services.settings.signing_key_cache_seconds + 1)
    agreed = {(await w.key_ring.signing_key()).kid for w in workers}
    assert len(agreed) == 1


async def test_concurrent_calls_in_one_worker_create_one_key(services):
    ring = services.key_ring
    kids = {k.kid for k in await asyncio.gather(*(ring.signing_key() for _ in range(20)))}
    assert len(kids) == 1
    assert len(await ring.list_keys()) == 1


async def test_rotation_keeps_the_previous_key_until_its_tokens_expired(services, clock):
    ring = services.key_ring
    old = await ring.signing_key()
    new = await ring.rotate()
    assert new.status == "active" and (await ring.signing_key()).kid == new.kid
    infos = {i.kid: i for i in await ring.list_keys()}
    assert infos[old.kid].status == "previous"
    lifetime = services.settings.token_lifetime_seconds
    assert infos[old.kid].retire_after >= new.created_on + timedelta(seconds=lifetime)
    assert {k["kid"] for k in (await ring.jwks())["keys"]} == {old.kid, new.kid}
    assert await ring.verification_key(old.kid) is not None

    clock.advance((infos[old.kid].retire_after - clock.now()).total_seconds() + 1)
    assert {i.kid: i.status for i in await ring.list_keys()}[old.kid] == "retired"
    assert [k["kid"] for k in (await ring.jwks())["keys"]] == [new.kid]
    assert await ring.verification_key(old.kid) is None


async def test_rotation_on_another_worker_is_seen_at_once_for_verification(services):
    here, there = services.key_ring, twin(services).key_ring
    await here.signing_key()
    rotated = await there.rotate()
    assert await here.verification_key(rotated.kid) is not None  # unknown kid: one refresh


async def test_unknown_kids_refresh_at_most_once_per_interval(services, clock):
    ring = services.key_ring
    await ring.signing_key()
    calls = 0
    real_list = services.secrets.list

    async def counting_list():
        nonlocal calls
        calls += 1
        return await real_list()

    services.secrets.list = counting_list
    for n in range(50):
        assert await ring.verification_key(f"20260101000000-{n:016x}") is None
    assert calls == 1
    clock.advance(3)
    await ring.verification_key("20260101000000-ffffffffffffffff")
    assert calls == 2


async def test_malformed_kids_never_touch_the_store(services):
    ring = services.key_ring
    await ring.signing_key()
    services.secrets.available = False
    for kid in ("", "../../x", "a" * 500, "20260101000000-XYZ"):
        assert await ring.verification_key(kid) is None


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
        await KeyRing(services).signing_key()


async def test_jwks_never_contains_private_parts(services):
    ring = services.key_ring
    await ring.signing_key()
    await ring.rotate()
    for jwk in (await ring.jwks())["keys"]:
        assert "d" not in jwk and jwk["kty"] == "EC" and jwk["alg"] == "ES256"


async def test_foreign_and_disabled_secrets_are_not_keys(services):
    await services.secrets.set("gw-signing-20260101000000-0000000000000000", "not a pem",
                               tags={"kid": "20260101000000-0000000000000000", "alg": "RS256"})
    await services.secrets.set("gw-client-x-y", "verifier")
    key = await services.key_ring.signing_key()
    assert key.kid != "20260101000000-0000000000000000"
    assert [i.kid for i in await services.key_ring.list_keys()] == [key.kid]


async def test_invalidate_reloads(services):
    ring = services.key_ring
    first = await ring.signing_key()
    other = await twin(services).key_ring.rotate()
    assert (await ring.signing_key()).kid == first.kid  # cached
    ring.invalidate()
    assert (await ring.signing_key()).kid == other.kid
