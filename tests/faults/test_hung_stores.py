"""A store that hangs instead of failing: the process is stopped with SIGSTOP, so its port still accepts
connections but nothing ever answers. Cached clients, routes and verifiers must keep serving promptly
(a refresh that could fall back on a stale entry waits at most ``REVALIDATE_TIMEOUT_SECONDS``), not after
the SDK's connect and read timeouts and its retry; the stores are resumed and traffic carries on.
Admin writes and uncached reads get their 503 within ``STORE_TIMEOUT_SECONDS`` (measured here against
``FAIL_FAST_SECONDS``), and what a woken store applies late is undone: nothing is half-written."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gateway.caching import OUTAGE_RETRY_SECONDS, REVALIDATE_TIMEOUT_SECONDS, TtlCache
from gateway.clock import FakeClock
from tests.faults.conftest import (
    FAIL_FAST_SECONDS,
    NO_FRESH_CACHE,
    TENANT_C,
    StoredState,
    Traffic,
    assert_nothing_half_written,
    stored_state,
    unavailable,
    upstream_route,
)
from tests.support.constants import TENANT_A

pytestmark = pytest.mark.integration


@contextmanager
def hung(pid: int) -> Iterator[None]:
    """The process is frozen (SIGSTOP) inside the block and resumed (SIGCONT) after it, whatever happens."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize("store", ["azurite", "keyvault"])
def test_a_hung_store_does_not_stall_cached_traffic(gateway, azurite, keyvault, provider, store):
    # Nothing fresh in any cache (clients, routes, verifiers, signing keys): every request asks the hung store.
    gw = gateway(**NO_FRESH_CACHE)
    client_id, secret = gw.onboard(TENANT_A, provider.base("/tenant-a"))
    token = gw.token(client_id, secret, TENANT_A)
    assert gw.read(token).status_code == 200
    pid = azurite.process.process.pid if store == "azurite" else keyvault._process.pid  # noqa: SLF001
    with Traffic(gw, client_id, secret, TENANT_A, token, timeout=FAIL_FAST_SECONDS) as traffic:
        traffic.wait_for(10)
        with hung(pid):
            traffic.wait_for(60)  # answered within FAIL_FAST_SECONDS each, or counted as status 0
        traffic.wait_for(20)
    assert set(traffic.statuses) == {("token", 200), ("read", 200)}, dict(traffic.statuses)
    assert gw.admin.post("/manage/clients", json={"displayName": "after", "allowedTenants": ["*"]}).status_code == 201


async def test_a_refresh_that_never_returns_serves_the_stale_entry_and_backs_off():
    clock = FakeClock()
    calls: list[str] = []
    hang = asyncio.Event()

    async def loader(key: str) -> str:
        calls.append(key)
        if hang.is_set():
            await asyncio.Event().wait()  # never answers
        return f"{key}:v1"

    cache: TtlCache[str, str] = TtlCache(loader, ttl=10, stale_if_error=100, clock=clock)
    assert await cache.get("a") == "a:v1"
    hang.set()
    clock.advance(11)
    assert await asyncio.wait_for(cache.get("a"), REVALIDATE_TIMEOUT_SECONDS + 5) == "a:v1"
    assert await cache.get("a") == "a:v1" and len(calls) == 2  # backing off: the store is not asked again
    clock.advance(OUTAGE_RETRY_SECONDS * 1.5 + 1)  # the back-off has up to 50 % jitter
    hang.clear()
    assert await cache.get("a") == "a:v1" and len(calls) == 3  # asked again after the back-off
    with pytest.raises(TimeoutError):  # no stale entry to fall back on: the caller's own timeouts apply
        hang.set()
        await asyncio.wait_for(cache.get("b"), 0.2)


class HangingSecrets:
    """The memory secret store, except that ``get`` hangs while ``hanging`` is set, until ``resume()``."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.hanging = False
        self._resume = asyncio.Event()

    def resume(self) -> None:
        self.hanging = False
        self._resume.set()

    async def get(self, *args, **kwargs):
        if self.hanging:
            await self._resume.wait()
        return await self._inner.get(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)


async def test_a_hung_key_vault_does_not_stall_signing_and_the_refresh_finishes_later(services, clock):
    from gateway.tokens.keyring import REFRESH_WAIT_SECONDS

    services.secrets = HangingSecrets(services.secrets)
    ring = services.key_ring
    first = await ring.signing_key()
    services.secrets.hanging = True
    clock.advance(services.settings.signing_key_cache_seconds + 1)
    for _ in range(3):  # the first call waits at most REFRESH_WAIT_SECONDS, the others not at all
        assert (await asyncio.wait_for(ring.signing_key(), REFRESH_WAIT_SECONDS + 5)).kid == first.kid
    services.secrets.resume()
    rotated = await asyncio.wait_for(services.signing_key_admin.rotate(), 5)
    assert (await ring.signing_key()).kid == rotated.kid != first.kid


# ------------------------------------------------------------------------------ writes and uncached reads

def store_pid(store: str, azurite, keyvault) -> int:
    return azurite.process.process.pid if store == "azurite" else keyvault._process.pid  # noqa: SLF001


def summary(state: StoredState) -> tuple:
    """What a half-written or late-landing change would alter: ids, secret ids, upstream secrets, names."""
    clients = {cid: (c.display_name, c.enabled, c.allowed_tenants, tuple(s.secret_id for s in c.secrets))
               for cid, c in state.clients.items()}
    routes = {tid: (r.fhir_base_url, r.display_name, r.upstream_auth.secret_name) for tid, r in state.routes.items()}
    return clients, routes, state.secret_names


def settled(settings, before: tuple, seconds: float = 30.0) -> StoredState:
    """The stores' content once the gateway has undone what landed late (polled until it matches ``before``
    or ``seconds`` have passed)."""
    deadline = time.monotonic() + seconds
    while True:
        state = stored_state(settings)
        if summary(state) == before or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


WRITES = {
    "create-client": lambda gw, client_id: gw.admin.post("/manage/clients", json={
        "displayName": "hung", "allowedTenants": ["*"]}),
    "add-secret": lambda gw, client_id: gw.admin.post(f"/manage/clients/{client_id}/secrets"),
    "disable-client": lambda gw, client_id: gw.admin.patch(f"/manage/clients/{client_id}", json={"enabled": False}),
    "put-route-with-secret": lambda gw, client_id: gw.admin.put(
        f"/manage/routes/{TENANT_C}", json=upstream_route(TENANT_C, "hung-store-provider-secret-71c2")),
}
CASES = [("azurite", "create-client"), ("azurite", "disable-client"), ("azurite", "put-route-with-secret"),
         ("keyvault", "create-client"), ("keyvault", "add-secret"), ("keyvault", "put-route-with-secret")]


@pytest.mark.parametrize(("store", "write"), CASES, ids=[f"{s}-{w}" for s, w in CASES])
def test_an_admin_write_to_a_hung_store_gets_503_within_the_bound_and_nothing_is_written(
        gateway, azurite, keyvault, provider, store, write):
    """Table Storage or Key Vault accepts the connection and never answers (SIGSTOP): the administrator
    gets 503 + Retry-After within FAIL_FAST_SECONDS (STORE_TIMEOUT_SECONDS, default 8 s), not after the
    SDK's timeouts and retry; when the store wakes up and applies what it was sent, the gateway undoes it."""
    gw = gateway()
    client_id, _ = gw.onboard(TENANT_A, provider.base("/tenant-a"))
    before = summary(stored_state(gw.settings))
    with hung(store_pid(store, azurite, keyvault)):
        started = time.monotonic()
        response = WRITES[write](gw, client_id)
        elapsed = time.monotonic() - started
    unavailable(response)
    assert elapsed < FAIL_FAST_SECONDS, f"answered after {elapsed:.1f} s"
    after = settled(gw.settings, before)
    assert summary(after) == before
    assert_nothing_half_written(after, gw.settings)


def test_a_token_request_that_misses_the_cache_is_answered_in_time_while_table_storage_hangs(
        gateway, azurite, provider):
    """The uncached path: a client this host has never looked up, while Table Storage hangs."""
    gw = gateway(**NO_FRESH_CACHE)
    client_id, secret = gw.onboard(TENANT_A, provider.base("/tenant-a"))
    gw.restart()  # a fresh worker: nothing cached, nothing stale to fall back on
    with hung(store_pid("azurite", azurite, None)):
        started = time.monotonic()
        response = gw.token_response(client_id, secret, TENANT_A)
        elapsed = time.monotonic() - started
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable", response.text
    assert elapsed < FAIL_FAST_SECONDS, f"answered after {elapsed:.1f} s"
    assert gw.token_response(client_id, secret, TENANT_A).status_code == 200
