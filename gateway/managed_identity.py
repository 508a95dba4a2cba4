"""The gateway's own Azure identity: which ``azure.identity.aio`` credential to use.

``AZURE_CLIENT_ID`` names a user-assigned managed identity
(https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token).
azure-identity takes ~350 ms to import, so it is imported only when a credential is built.
"""

from __future__ import annotations

from typing import Any


def managed_identity_credential(client_id: str | None) -> Any:
    """A ``ManagedIdentityCredential``: the user-assigned identity ``client_id``, else the system-assigned one."""
    from azure.identity.aio import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def store_credential(client_id: str | None) -> Any:
    """The credential for Key Vault and Table Storage.

    The user-assigned identity ``client_id`` when set, else ``DefaultAzureCredential``
    (the system-assigned identity in Azure, a developer sign-in elsewhere).
    """
    if client_id:
        return managed_identity_credential(client_id)
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential()
