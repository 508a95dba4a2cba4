"""The in-memory provider key store runs the ProviderKeyStore contract suite."""

import pytest

from gateway.stores.memory_provider_keys import MemoryProviderKeyStore
from tests.unit.stores.provider_key_contracts import ProviderKeyStoreContract


@pytest.fixture
def keys(clock):
    return MemoryProviderKeyStore(clock)


class TestMemoryProviderKeyStore(ProviderKeyStoreContract):
    async def test_a_disabled_version_does_not_sign(self, keys):
        import hashlib

        from gateway.stores.errors import NotFound

        first = await keys.create("k", "ES384")
        keys.disable("k", first.version)
        with pytest.raises(NotFound):
            await keys.sign("k", first.version, "ES384", hashlib.sha384(b"m").digest())
