"""Key Vault keys on the emulator (production ``KeyClient`` / ``CryptographyClient`` over HTTPS) run the
ProviderKeyStore contract suite; keys of another kind in the same vault are not provider keys."""

from __future__ import annotations

import pytest
from azure.keyvault.keys.aio import KeyClient

from gateway.stores.keyvault import EmulatorCredential
from gateway.stores.keyvault_keys import KeyVaultProviderKeyStore
from tests.fixtures.keyvault import keyvault_settings
from tests.unit.stores.provider_key_contracts import ProviderKeyStoreContract, unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def keys(keyvault):
    keyvault.start()
    store = KeyVaultProviderKeyStore.from_settings(keyvault_settings(keyvault))
    yield store
    await store.aclose()


class TestKeyVaultProviderKeyStore(ProviderKeyStoreContract):
    async def test_keys_are_created_not_exportable_for_signing_only(self, keys, keyvault):
        name = unique()
        await keys.create(name, "RS384")
        async with KeyClient(keyvault.url, EmulatorCredential(), verify_challenge_resource=False,
                             connection_verify=keyvault.ca_bundle) as client:
            key = await client.get_key(name)
            other = unique()
            await client.create_ec_key(other, curve="P-384")
        assert sorted(key.key_operations) == ["sign", "verify"] and key.properties.exportable is False
        assert key.properties.tags["kind"] == "provider-assertion"
        names = await keys.names()
        assert name in names and other not in names


async def test_names_the_vault_has_no_key_of_cost_one_listing_every_ten_seconds(keys, keyvault):
    """``/oauth2/provider-jwks?key=<anything>`` is unauthenticated: invented names must not each cost a call."""
    import requests

    def counts(reset: bool = False) -> dict:
        return requests.request("DELETE" if reset else "GET", f"{keyvault.url}/_emulator/counts",
                                verify=keyvault.ca_bundle, timeout=10).json()

    existing = unique()
    await keys.create(existing, "ES384")
    counts(reset=True)
    assert await keys.versions("invented-0") == []
    one_listing = {k: v for k, v in counts().items() if k != "challenge"}  # its pages: the vault is shared
    assert set(one_listing) == {"keys.list"}
    for n in range(1, 50):
        assert await keys.versions(f"invented-{n}") == []
    assert {k: v for k, v in counts().items() if k != "challenge"} == one_listing
    assert len(await keys.versions(existing)) == 1  # known: no listing
    created_elsewhere = unique()
    async with KeyClient(keyvault.url, EmulatorCredential(), verify_challenge_resource=False,
                         connection_verify=keyvault.ca_bundle) as client:
        await client.create_ec_key(created_elsewhere, curve="P-384")
    assert await keys.versions(created_elsewhere) == []  # not yet: the listing is less than 10 s old
    keys._names_at -= 10  # noqa: SLF001 - ten seconds later
    assert len(await keys.versions(created_elsewhere)) == 1  # found once the listing may be read again


async def test_the_store_factory_opens_the_provider_keys_on_key_vault_on_their_first_use(azure_settings):
    """``open_azure_stores`` opens the provider keys like every other store; the keys client itself is created
    on the first call (most workers never sign a provider assertion)."""
    from gateway.services import build_services

    services = await build_services(azure_settings)
    try:
        store = services.provider_keys
        assert store is not None and store._store is None  # nothing opened at cold start
        created = await services.provider_key_ring.ensure("gateway", "ES384")
        assert created is not None and created.alg == "ES384"
        assert isinstance(store._store, KeyVaultProviderKeyStore)
        assert ("gateway", "ES384") in await services.provider_key_ring.key_names()
    finally:
        await services.aclose()
    assert store._store is None  # closed with the services
