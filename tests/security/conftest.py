"""Fixtures of the security suite: a local Functions host on Azurite + the Key Vault emulator with a
function key, a connected tenant on the recording provider stand-in, and a valid token for it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest

from gateway.config import Settings
from gateway.services import Services
from tests.fixtures.funchost import LocalHost
from tests.fixtures.leaks import register_sensitive
from tests.fixtures.provider import ProviderServer, connect
from tests.support.constants import BASE_URL as ADVERTISED  # PUBLIC_BASE_URL of azure_settings
from tests.support.constants import TENANT_A


def host_env(settings: Settings, azurite, keyvault, function_key: str, **extra: str) -> dict[str, str]:
    return {"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": ADVERTISED, **azurite.settings(),
            **keyvault.settings(), "TABLE_NAME_PREFIX": settings.table_name_prefix,
            "KEY_VAULT_SECRET_PREFIX": settings.key_vault_secret_prefix, "LOCAL_FUNCTION_KEY": function_key,
            **extra}


@dataclass
class Gateway:
    """A running local host and what the tests need to talk to it."""

    host: LocalHost
    services: Services
    provider: ProviderServer
    function_key: str
    token: str  # a valid access token for TENANT_A (provider base /stu3)

    @property
    def url(self) -> str:
        return self.host.base_url


@pytest.fixture
def start_gateway(azure_settings, azure_services, azurite, keyvault, funchost, provider):
    """``await start_gateway(**extra_settings)``: the host with a connected TENANT_A; the caller's settings win."""

    async def start(**extra: str) -> Gateway:
        key = "fk-" + secrets.token_urlsafe(24)
        register_sensitive(key)
        token = await connect(azure_services, TENANT_A, provider.base("/stu3"))
        register_sensitive(token)
        host = funchost(host_env(azure_settings, azurite, keyvault, key, **extra))
        return Gateway(host, azure_services, provider, key, token)

    return start
