"""The JWKS fetcher against a real aiohttp server on loopback: caching, rotation, single flight, bounds, SSRF."""

from __future__ import annotations

import asyncio

import pytest

from gateway.clock import FakeClock
from gateway.oauth.client_assertion import ClientAssertionVerifier, KeysUnavailable
from gateway.oauth.jwks_fetcher import (
    DEFAULT_TTL_SECONDS,
    FAILURE_RETRY_SECONDS,
    MAX_TTL_SECONDS,
    UNKNOWN_KID_REFETCH_SECONDS,
    JwksFetcher,
)
from gateway.stores.replay import MemoryReplayStore
from tests.fixtures.common import make_settings
from tests.fixtures.provider import ProviderServer, Reply
from tests.fixtures.resolver import StaticResolver
from tests.unit.oauth.keys import CLIENT_ID, TOKEN_URL, claims, ec_key, private_jwk, public_jwk, rsa_key, sign

pytestmark = pytest.mark.integration

PRODUCTION = dict(GATEWAY_ENVIRONMENT="production", PUBLIC_BASE_URL="https://gw.example",
                  KEY_VAULT_URL="https://kv.vault.azure.net", TABLES_ENDPOINT="https://t.table.core.windows.net")
JWKS_TYPE = "application/jwk-set+json"



def serve(provider: ProviderServer, *keys, headers=None, delay=0.0, status=200, body=None, gzip=False):
    document = body if body is not None else {"keys": list(keys)}
    provider.script = lambda request, server: Reply(status=status, body=document, headers=dict(headers or {}),
                                                    content_type=JWKS_TYPE, delay=delay, gzip=gzip)


@pytest.fixture
async def fetcher(clock: FakeClock):
    fetcher = JwksFetcher(make_settings(), clock=clock, timeout_seconds=2.0)
    yield fetcher
    await fetcher.aclose()


def url(provider: ProviderServer) -> str:
    return provider.origin + "/client/jwks.json"


# --------------------------------------------------------------------------- fetching and caching

async def test_the_set_is_fetched_once_and_served_from_the_cache_while_fresh(fetcher, provider, clock):
    serve(provider, public_jwk(rsa_key(), "rsa-1"), headers={"Cache-Control": "max-age=600"})
    keys = await fetcher.keys(CLIENT_ID, url(provider))
    assert keys.get("rsa-1") is not None
    clock.advance(599)
    assert (await fetcher.keys(CLIENT_ID, url(provider))).get("rsa-1") is not None
    assert len(provider.requests) == 1
    recorded = provider.requests[0]
    assert recorded.method == "GET" and recorded.path == "/client/jwks.json"
    assert "application/jwk-set+json" in recorded.header("accept")
    assert recorded.header("cookie") is None and recorded.header("authorization") is None
    clock.advance(2)
    await fetcher.keys(CLIENT_ID, url(provider))
    assert len(provider.requests) == 2


async def test_without_caching_headers_the_default_freshness_applies(fetcher, provider, clock):
    serve(provider, public_jwk(rsa_key(), "rsa-1"))
    await fetcher.keys(CLIENT_ID, url(provider))
    clock.advance(DEFAULT_TTL_SECONDS - 1)
    await fetcher.keys(CLIENT_ID, url(provider))
    assert len(provider.requests) == 1
    clock.advance(2)
    await fetcher.keys(CLIENT_ID, url(provider))
    assert len(provider.requests) == 2


async def test_a_set_is_cached_at_most_a_day(fetcher, provider, clock):
    serve(provider, public_jwk(rsa_key(), "rsa-1"), headers={"Cache-Control": "max-age=31536000"})
    await fetcher.keys(CLIENT_ID, url(provider))
    clock.advance(MAX_TTL_SECONDS + 1)
    await fetcher.keys(CLIENT_ID, url(provider))
    assert len(provider.requests) == 2


async def test_expires_is_honoured(fetcher, provider, clock):
    serve(provider, public_jwk(rsa_key(), "rsa-1"),
          headers={"Date": "Sun, 01 Mar 2026 12:00:00 GMT", "Expires": "Sun, 01 Mar 2026 12:05:00 GMT"})
    await fetcher.keys(CLIENT_ID, url(provider))
    clock.advance(299)
    await fetcher.keys(CLIENT_ID, url(provider))
    assert len(provider.requests) == 1
    clock.advance(2)
    await fetcher.keys(CLIENT_ID, url(provider))
    assert len(provider.requests) == 2


async def test_each_client_has_its_own_entry_and_a_changed_url_is_fetched(fetcher, provider):
    serve(provider, public_jwk(rsa_key(), "rsa-1"))
    await fetcher.keys(CLIENT_ID, url(provider))
    await fetcher.keys("another-client", url(provider))
    await fetcher.keys(CLIENT_ID, provider.origin + "/moved/jwks.json")
    assert [r.path for r in provider.requests] == ["/client/jwks.json", "/client/jwks.json", "/moved/jwks.json"]
    fetcher.invalidate(CLIENT_ID)
    await fetcher.keys(CLIENT_ID, provider.origin + "/moved/jwks.json")
    assert len(provider.requests) == 4


async def test_concurrent_misses_share_one_fetch(fetcher, provider):
    serve(provider, public_jwk(rsa_key(), "rsa-1"), delay=0.2)
    results = await asyncio.gather(*(fetcher.key(CLIENT_ID, url(provider), "rsa-1") for _ in range(10)))
    assert all(r is not None and r.kid == "rsa-1" for r in results)
    assert len(provider.requests) == 1


async def test_a_gzip_encoded_set_is_read(fetcher, provider):
    serve(provider, public_jwk(ec_key(), "ec-1"), gzip=True)
    assert (await fetcher.keys(CLIENT_ID, url(provider))).get("ec-1") is not None


# --------------------------------------------------------------------------- key rotation

async def test_an_unknown_kid_refetches_at_most_once_a_minute(fetcher, provider, clock):
    serve(provider, public_jwk(rsa_key(), "old"), headers={"Cache-Control": "max-age=3600"})
    assert await fetcher.key(CLIENT_ID, url(provider), "old") is not None
    clock.advance(UNKNOWN_KID_REFETCH_SECONDS)
    serve(provider, public_jwk(rsa_key(), "old"), public_jwk(ec_key(), "new"),
          headers={"Cache-Control": "max-age=3600"})
    assert (await fetcher.key(CLIENT_ID, url(provider), "new")).kid == "new"  # rotated: found after one refetch
    assert len(provider.requests) == 2
    for kid in ("random-1", "random-2", "random-3"):  # an attacker naming random kids
        assert await fetcher.key(CLIENT_ID, url(provider), kid) is None
    assert len(provider.requests) == 2
    clock.advance(UNKNOWN_KID_REFETCH_SECONDS)
    assert await fetcher.key(CLIENT_ID, url(provider), "random-4") is None
    assert len(provider.requests) == 3


async def test_an_unknown_kid_right_after_the_first_fetch_does_not_fetch_again(fetcher, provider):
    serve(provider, public_jwk(rsa_key(), "rsa-1"))
    assert await fetcher.key(CLIENT_ID, url(provider), "other") is None
    assert len(provider.requests) == 1


# --------------------------------------------------------------------------- failures

@pytest.mark.parametrize(("status", "body", "headers"), [
    (404, {"error": "not found"}, {}),
    (500, {"keys": []}, {}),
    (302, {}, {"Location": "http://127.0.0.1:1/elsewhere"}),   # redirects are not followed
    (200, "not json", {}),
    (200, {"keys": []}, {}),
    (200, {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}, {}),
])
async def test_unusable_answers_make_the_keys_unavailable(fetcher, provider, status, body, headers):
    serve(provider, status=status, body=body, headers=headers)
    with pytest.raises(KeysUnavailable) as raised:
        await fetcher.keys(CLIENT_ID, url(provider))
    assert provider.origin not in str(raised.value)
    assert len(provider.requests) == 1


async def test_a_set_with_a_private_key_is_refused(fetcher, provider):
    serve(provider, public_jwk(ec_key(), "ok"), private_jwk(rsa_key(), "leaked"))
    with pytest.raises(KeysUnavailable, match="private member 'd'"):
        await fetcher.keys(CLIENT_ID, url(provider))


async def test_a_response_larger_than_the_bound_is_refused(clock, provider):
    fetcher = JwksFetcher(make_settings(), clock=clock, max_bytes=4096)
    try:
        serve(provider, body={"keys": [public_jwk(rsa_key(), "rsa-1")], "padding": "x" * 100_000})
        with pytest.raises(KeysUnavailable, match="larger"):
            await fetcher.keys(CLIENT_ID, url(provider))
        serve(provider, body={"keys": [public_jwk(rsa_key(), "rsa-1")], "padding": "x" * 100_000}, gzip=True)
        fetcher.invalidate(CLIENT_ID)
        with pytest.raises(KeysUnavailable, match="larger"):  # a small compressed body that inflates
            await fetcher.keys(CLIENT_ID, url(provider))
    finally:
        await fetcher.aclose()


async def test_a_slow_server_is_abandoned_within_the_time_bound(clock, provider):
    fetcher = JwksFetcher(make_settings(), clock=clock, timeout_seconds=0.3)
    try:
        serve(provider, public_jwk(rsa_key(), "rsa-1"), delay=5.0)
        with pytest.raises(KeysUnavailable, match="in time"):
            await asyncio.wait_for(fetcher.keys(CLIENT_ID, url(provider)), 3.0)
    finally:
        await fetcher.aclose()


async def test_a_failed_fetch_is_not_retried_at_once_and_the_last_good_set_keeps_serving(fetcher, provider, clock):
    serve(provider, public_jwk(rsa_key(), "rsa-1"), headers={"Cache-Control": "max-age=60"})
    await fetcher.keys(CLIENT_ID, url(provider))
    clock.advance(61)
    serve(provider, status=503, body={})
    assert (await fetcher.keys(CLIENT_ID, url(provider))).get("rsa-1") is not None  # stale, after a failed refetch
    assert (await fetcher.keys(CLIENT_ID, url(provider))).get("rsa-1") is not None
    assert len(provider.requests) == 2
    clock.advance(FAILURE_RETRY_SECONDS)
    await fetcher.keys(CLIENT_ID, url(provider))
    assert len(provider.requests) == 3


async def test_without_a_good_set_a_failure_is_remembered_briefly(fetcher, provider, clock):
    serve(provider, status=500, body={})
    for _ in range(3):
        with pytest.raises(KeysUnavailable):
            await fetcher.keys(CLIENT_ID, url(provider))
    assert len(provider.requests) == 1
    clock.advance(FAILURE_RETRY_SECONDS)
    serve(provider, public_jwk(rsa_key(), "rsa-1"))
    assert (await fetcher.keys(CLIENT_ID, url(provider))).get("rsa-1") is not None


# --------------------------------------------------------------------------- SSRF

async def test_production_refuses_http_and_loopback_without_connecting(clock, provider):
    fetcher = JwksFetcher(make_settings(**PRODUCTION), clock=clock)
    try:
        for target in (url(provider), f"https://127.0.0.1:{provider.port}/client/jwks.json"):
            with pytest.raises(KeysUnavailable, match="not allowed"):
                await fetcher.keys(CLIENT_ID, target)
        assert provider.requests == []
    finally:
        await fetcher.aclose()


@pytest.mark.parametrize("addresses", [("127.0.0.1",), ("10.0.0.8",), ("169.254.169.254",),
                                       ("93.184.216.34", "127.0.0.1")])
async def test_a_name_resolving_to_a_refused_address_is_refused_at_connect_time(clock, provider, addresses):
    resolver = StaticResolver(*addresses)
    fetcher = JwksFetcher(make_settings(**PRODUCTION), clock=clock, resolver=resolver)
    try:
        with pytest.raises(KeysUnavailable, match="address is not allowed"):
            await fetcher.keys(CLIENT_ID, f"https://jwks.client.example:{provider.port}/client/jwks.json")
        assert resolver.asked == ["jwks.client.example"]  # the check ran on the resolved address
        assert provider.requests == []
    finally:
        await fetcher.aclose()


async def test_development_refuses_a_name_resolving_to_a_private_address(clock, provider):
    resolver = StaticResolver("10.0.0.8")
    fetcher = JwksFetcher(make_settings(), clock=clock, resolver=resolver)
    try:
        with pytest.raises(KeysUnavailable):
            await fetcher.keys(CLIENT_ID, f"https://jwks.client.example:{provider.port}/client/jwks.json")
        assert provider.requests == []
    finally:
        await fetcher.aclose()


# --------------------------------------------------------------------------- with the verifier

async def test_a_verifier_with_fetched_keys_follows_a_key_rotation(fetcher, provider, clock):
    serve(provider, public_jwk(rsa_key(), "2026-01"), headers={"Cache-Control": "max-age=3600"})
    verifier = ClientAssertionVerifier(token_url=TOKEN_URL, replay=MemoryReplayStore(clock), clock=clock)
    source = fetcher.key_source(CLIENT_ID, url(provider))
    t = clock.now().timestamp()
    assert await verifier.verify(sign(rsa_key(), "2026-01", claims(t)), CLIENT_ID, source)
    clock.advance(UNKNOWN_KID_REFETCH_SECONDS)
    serve(provider, public_jwk(rsa_key(), "2026-01"), public_jwk(ec_key(), "2026-02"),
          headers={"Cache-Control": "max-age=3600"})
    t = clock.now().timestamp()
    assert (await verifier.verify(sign(ec_key(), "2026-02", claims(t), "ES384"), CLIENT_ID, source)).kid == "2026-02"
    assert len(provider.requests) == 2
