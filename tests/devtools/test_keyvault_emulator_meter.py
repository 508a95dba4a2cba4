"""The emulator's counts per operation and its Key Vault-like rate limit (429 + Retry-After), over real HTTPS
with the production SecretClient."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.keyvault.secrets.aio import SecretClient

from devtools.keyvault_emulator.meter import RateLimit
from gateway.stores.keyvault import EmulatorCredential
from tests.fixtures.keyvault import KeyVaultEmulator

pytestmark = pytest.mark.integration


def control(kv: KeyVaultEmulator, method: str, what: str, body: dict | None = None) -> dict:
    response = requests.request(method, f"{kv.url}/_emulator/{what}", json=body, verify=kv.ca_bundle, timeout=10)
    assert response.status_code == 200
    return response.json()


async def test_every_call_is_counted_by_operation(keyvault):
    keyvault.start()
    control(keyvault, "DELETE", "counts")
    async with SecretClient(keyvault.url, EmulatorCredential(), verify_challenge_resource=False,
                            connection_verify=keyvault.ca_bundle, retry_total=0) as client:
        await client.set_secret("metered-one", "v")
        await client.get_secret("metered-one")
        await client.get_secret("metered-one")
        assert [p async for p in client.list_properties_of_secrets()]
    counts = control(keyvault, "DELETE", "counts")
    assert counts.get("challenge", 0) <= 1  # a first request goes without a token (once per vault and process)
    assert (counts["secrets.set"], counts["secrets.get"], counts["secrets.list"]) == (1, 2, 1)
    assert control(keyvault, "GET", "counts") == {}


async def test_past_the_rate_limit_key_vault_answers_429_with_retry_after(keyvault):
    keyvault.start()
    control(keyvault, "PUT", "rate-limit", {"calls": 3, "seconds": 30})
    try:
        async with SecretClient(keyvault.url, EmulatorCredential(), verify_challenge_resource=False,
                                connection_verify=keyvault.ca_bundle, retry_total=0) as client:
            await client.set_secret("limited", "v")
            await client.get_secret("limited")
            await client.get_secret("limited")
            with pytest.raises(HttpResponseError) as refused:
                await client.get_secret("limited")
        assert refused.value.status_code == 429
        assert 1 <= int(refused.value.response.headers["Retry-After"]) <= 30
        assert refused.value.error.code == "Throttled"
        assert control(keyvault, "GET", "counts")["throttled"] == 1
    finally:
        control(keyvault, "DELETE", "rate-limit")


def test_a_sliding_window_lets_calls_through_again_as_old_ones_leave_it():
    limit = RateLimit.parse("2/10")
    assert limit.retry_after(0.0) is None and limit.retry_after(1.0) is None
    assert limit.retry_after(2.0) == 8  # the first call leaves the window at 10 s
    assert limit.retry_after(10.0) is None
    with pytest.raises(ValueError):
        RateLimit.parse("0/10")
