"""The provider key set costs the vault nothing per anonymous request and stays small whatever the admin does.

``GET /oauth2/provider-jwks?key=<name>`` is unauthenticated: random names must not turn into Key Vault listings
(the vault also holds client verifiers and signing keys, and throttles), and no per-name cache may grow without
bound. ``POST /manage/provider-keys/*/rotate`` in a burst used to grow the published set past 64 KiB, the size
providers accept, and a hospital refused it: rotation is refused while a version is pending or enough are
published. In process on the in-memory key store, counting its calls, with a fake clock.
"""

from __future__ import annotations

import json
import secrets

import pytest

from gateway.http import Headers, Request
from gateway.stores.memory_provider_keys import MemoryProviderKeyStore
from gateway.tokens.provider_keys import MAX_CACHED_KEYS, MAX_PUBLISHED_VERSIONS
from tests.support.constants import TENANT
from tests.support.surfaces import respond
from tests.unit.admin.conftest import AdminCaller

JWKS_LIMIT = 64 * 1024


class CountingKeyStore(MemoryProviderKeyStore):
    """The in-memory key store, counting what would be Key Vault calls."""

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.calls: list[str] = []

    async def names(self):
        self.calls.append("names")
        return await super().names()

    async def versions(self, name):
        self.calls.append(f"versions {name}")
        return await super().versions(name)


@pytest.fixture
def store(services) -> CountingKeyStore:
    services.provider_keys = CountingKeyStore(services.clock)
    return services.provider_keys


async def provider_jwks(services, key: str | None = None):
    query = f"?key={key}" if key is not None else ""
    return await respond(Request("GET", f"http://localhost:7071/oauth2/provider-jwks{query}", Headers(),
                                 {"endpoint": "provider-jwks"}), services)


def route(key_name: str) -> dict:
    return {"fhirBaseUrl": "http://127.0.0.1:9999/fhir", "fhirVersion": "STU3",
            "upstreamAuth": {"type": "privateKeyJwt", "tokenUrl": "http://127.0.0.1:9999/token", "clientId": "gw",
                             "keyName": key_name}}


async def test_random_key_names_cost_no_store_call_within_the_cache_period(services, store):
    assert (await AdminCaller(services)("PUT", f"/manage/routes/{TENANT}", route("st-mary"))).status == 201
    assert (await provider_jwks(services, "st-mary")).status == 200  # a key made on this worker: found at once
    store.calls.clear()
    for _ in range(500):
        response = await provider_jwks(services, secrets.token_hex(8))
        assert response.status == 404 and json.loads(response.body)["error"] == "not_found"
    assert store.calls == []  # the names listed a moment ago answer every one of them
    services.clock.advance(services.provider_key_ring.timing.worker_cache + 1)
    for _ in range(500):
        assert (await provider_jwks(services, secrets.token_hex(8))).status == 404
    assert store.calls == ["names"]  # once the list is stale: one listing for the lot
    assert (await provider_jwks(services, "st-mary")).status == 200


async def test_the_default_set_of_a_deployment_without_the_gateway_key_is_empty_and_free(services, store):
    for _ in range(50):
        response = await provider_jwks(services)
        assert response.status == 200 and json.loads(response.body) == {"keys": []}
    assert store.calls == ["names"]


async def test_every_per_name_cache_is_bounded(services, store):
    ring = services.provider_key_ring
    for n in range(MAX_CACHED_KEYS * 3):  # e.g. rotations or listings naming many keys
        await ring.states(f"k{n}", "RS384")
    assert len(ring._versions) <= MAX_CACHED_KEYS


async def test_a_rotation_while_a_version_is_pending_is_refused_with_409_and_audited(services, store):
    admin = AdminCaller(services)
    assert (await admin("PUT", f"/manage/routes/{TENANT}", route("gateway"))).status == 201
    assert (await admin("POST", "/manage/provider-keys/gateway-rs384/rotate")).status == 201
    refused = await admin("POST", "/manage/provider-keys/gateway-rs384/rotate")
    assert refused.status == 409 and "pending" in refused.json()["detail"]
    record = [r for r in services.audit.records if r.action == "provider-key.rotate"][-1]
    assert record.outcome.startswith("failed:409")
    assert len(await store.versions(services.provider_key_ring.vault_name("gateway", "RS384"))) == 2


async def test_a_hundred_rotations_keep_the_published_set_small(services, store):
    """The review's burst (100 rotations) and the patient attacker's (each as soon as the last one is active)."""
    admin = AdminCaller(services)
    ring = services.provider_key_ring
    assert (await admin("PUT", f"/manage/routes/{TENANT}", route("gateway"))).status == 201
    assert (await admin("PUT", "/manage/routes/11111111-2222-3333-4444-555555555555",
                        {**route("gateway"), "upstreamAuth": {**route("gateway")["upstreamAuth"],
                                                              "algorithm": "ES384"}})).status == 201
    statuses = [(await admin("POST", "/manage/provider-keys/gateway-rs384/rotate")).status for _ in range(100)]
    assert statuses.count(201) == 1 and statuses.count(409) == 99
    largest = 0
    for _ in range(100):
        services.clock.advance(ring.timing.activation + 1)
        for name in ("gateway-rs384", "gateway-es384"):
            await admin("POST", f"/manage/provider-keys/{name}/rotate")
        ring.forget()
        body = (await provider_jwks(services)).body
        largest = max(largest, len(body))
        published = json.loads(body)["keys"]
        for alg in ("RS384", "ES384"):
            assert sum(1 for k in published if k["alg"] == alg) <= MAX_PUBLISHED_VERSIONS
    print(f"largest published set: {largest} bytes")
    assert largest < JWKS_LIMIT // 8, largest
