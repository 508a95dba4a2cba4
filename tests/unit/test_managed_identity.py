"""Which Azure credential the gateway uses for its own identity (gateway.managed_identity)."""

import uuid

from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

from gateway.managed_identity import managed_identity_credential, store_credential


async def test_stores_use_the_user_assigned_identity_when_named_else_the_default_chain() -> None:
    named = store_credential(str(uuid.uuid4()))
    unnamed = store_credential(None)
    try:
        assert isinstance(named, ManagedIdentityCredential)
        assert isinstance(unnamed, DefaultAzureCredential)
    finally:
        await named.close()
        await unnamed.close()


async def test_provider_tokens_only_ever_come_from_a_managed_identity() -> None:
    # A provider token must never come from a developer sign-in picked up by the default chain.
    for client_id in (str(uuid.uuid4()), None, ""):
        credential = managed_identity_credential(client_id)
        try:
            assert isinstance(credential, ManagedIdentityCredential)
        finally:
            await credential.close()
