"""KeyVaultSecretStore against the Key Vault emulator over HTTPS (and a failing vault for 5xx/429)."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from devtools.keyvault_emulator.server import CHALLENGE
from gateway.config import Settings, SettingsError
from gateway.stores.errors import AlreadyExists, NotFound, StoreUnavailable
from gateway.stores.keyvault import EmulatorCredential, KeyVaultSecretStore, make_credential
from tests.fixtures.keyvault import KeyVaultEmulator, keyvault_settings

pytestmark = pytest.mark.integration


def unique(prefix: str = "gw-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def test_set_then_get_round_trips_value_and_attributes(secret_store):
    name = unique()
    expires = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    stored = await secret_store.set(name, "verifier-value", tags={"client": "c1", "secretId": "abc"},
                                    content_type="application/x-verifier", expires_on=expires)
    assert stored.value == "verifier-value" and stored.version and stored.enabled
    fetched = await secret_store.get(name)
    assert fetched == stored
    assert (fetched.tags, fetched.content_type, fetched.expires_on) == (
        {"client": "c1", "secretId": "abc"}, "application/x-verifier", expires)
    assert fetched.created_on is not None and fetched.updated_on is not None


async def test_new_version_becomes_latest_and_old_version_stays_readable(secret_store):
    name = unique()
    first = await secret_store.set(name, "one")
    second = await secret_store.set(name, "two")
    assert (await secret_store.get(name)).value == "two"
    assert (await secret_store.get(name, first.version)).value == "one"
    assert (await secret_store.get(name, second.version)).version == second.version


async def test_absent_unknown_version_and_invalid_names_get_none(secret_store):
    assert await secret_store.get(unique()) is None
    name = unique()
    await secret_store.set(name, "v")
    assert await secret_store.get(name, uuid.uuid4().hex) is None
    assert await secret_store.get("not_a_valid/name") is None


async def test_set_with_an_invalid_name_is_refused_before_any_call(secret_store):
    with pytest.raises(ValueError):
        await secret_store.set("bad_name", "v")


async def test_secret_created_disabled_reads_as_disabled_without_value(secret_store):
    name = unique()
    await secret_store.set(name, "hidden", enabled=False)
    fetched = await secret_store.get(name)
    assert fetched is not None and fetched.enabled is False and fetched.value is None


async def test_list_shows_latest_properties_without_values(secret_store):
    names = {unique() for _ in range(3)}
    for name in names:
        await secret_store.set(name, "secret-value", tags={"kind": "listed"})
    listed = {s.name: s for s in await secret_store.list()}
    assert names <= set(listed)
    for name in names:
        assert listed[name].value is None and listed[name].tags == {"kind": "listed"}


async def test_update_changes_latest_attributes(secret_store):
    name = unique()
    await secret_store.set(name, "v1")
    latest = await secret_store.set(name, "v2")
    expires = datetime(2029, 1, 1, tzinfo=UTC)
    updated = await secret_store.update(name, enabled=False, tags={"revoked": "yes"}, expires_on=expires)
    assert (updated.version, updated.enabled, updated.tags, updated.expires_on, updated.value) == (
        latest.version, False, {"revoked": "yes"}, expires, None)
    disabled = await secret_store.get(name)
    assert disabled.enabled is False and disabled.value is None and disabled.version == latest.version
    await secret_store.update(name, enabled=True)
    assert (await secret_store.get(name)).value == "v2"


async def test_update_of_absent_secret_is_not_found(secret_store):
    with pytest.raises(NotFound):
        await secret_store.update(unique(), enabled=False)


async def test_delete_removes_and_purges_so_the_name_can_be_reused(secret_store):
    name = unique()
    await secret_store.set(name, "v")
    await secret_store.delete(name)
    assert await secret_store.get(name) is None
    assert name not in {s.name for s in await secret_store.list()}
    assert (await secret_store.set(name, "again")).value == "again"


async def test_delete_of_absent_secret_is_not_an_error(secret_store):
    await secret_store.delete(unique())
    await secret_store.delete("not_valid")


async def test_delete_under_purge_protection_ignores_the_refused_purge(tmp_path):
    emulator = KeyVaultEmulator(tmp_path / "protected", None, "--purge-protection")
    emulator.start()
    store = KeyVaultSecretStore.from_settings(keyvault_settings(emulator))
    try:
        name = unique()
        await store.set(name, "v")
        await store.delete(name)
        assert await store.get(name) is None
        with pytest.raises(AlreadyExists):  # the name stays reserved while it is recoverable
            await store.set(name, "reuse")
    finally:
        await store.aclose()
        emulator.stop()


async def test_outage_raises_store_unavailable_and_recovers_after_restart(secret_store, keyvault):
    name = unique()
    await secret_store.set(name, "before")
    keyvault.stop()
    try:
        operations: list[Callable[[], Awaitable[object]]] = [
            lambda: secret_store.get(name), lambda: secret_store.set(name, "value-during-outage"),
            lambda: secret_store.list(), lambda: secret_store.update(name, enabled=False),
            lambda: secret_store.delete(name)]
        for operation in operations:
            with pytest.raises(StoreUnavailable) as info:
                await operation()
            assert "value-during-outage" not in str(info.value)
            assert info.value.__cause__ is None and info.value.__suppress_context__
    finally:
        keyvault.start()
    assert (await secret_store.get(name)).value == "before"


@pytest.fixture
async def failing_vault(keyvault: KeyVaultEmulator) -> AsyncIterator[Callable[[int], Awaitable[Settings]]]:
    """An HTTPS vault on loopback that answers the challenge, then fails every call with a given status."""
    runners: list[web.AppRunner] = []

    async def start(status: int) -> Settings:
        async def handle(request: web.Request) -> web.Response:
            if "Authorization" not in request.headers:
                return web.json_response({"error": {"code": "Unauthorized", "message": "no token"}}, status=401,
                                         headers={"WWW-Authenticate": CHALLENGE})
            return web.json_response({"error": {"code": "Throttled" if status == 429 else "InternalError",
                                                "message": "failing on purpose"}}, status=status)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(keyvault.ca_bundle, Path(keyvault.ca_bundle).with_name("key.pem"))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        return keyvault_settings(keyvault, KEY_VAULT_URL=f"https://127.0.0.1:{port}")

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_throttling_and_server_errors_are_store_unavailable(failing_vault, status):
    store = KeyVaultSecretStore.from_settings(await failing_vault(status))
    try:
        with pytest.raises(StoreUnavailable) as info:
            await store.set(unique(), "value-that-must-not-leak")
        assert str(status) in str(info.value) and "value-that-must-not-leak" not in str(info.value)
        with pytest.raises(StoreUnavailable):
            await store.get(unique())
    finally:
        await store.aclose()


async def test_credentials_follow_settings():
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    base = {"GATEWAY_ENVIRONMENT": "development", "KEY_VAULT_URL": "https://example.vault.azure.net"}
    emulator = make_credential(Settings.from_mapping({**base, "KEY_VAULT_CREDENTIAL": "emulator"}))
    assert isinstance(emulator, EmulatorCredential)
    assert (await emulator.get_token("https://vault.azure.net/.default")).token == EmulatorCredential.TOKEN
    managed = make_credential(Settings.from_mapping({**base, "AZURE_CLIENT_ID": str(uuid.uuid4())}))
    default = make_credential(Settings.from_mapping(base))
    try:
        assert isinstance(managed, ManagedIdentityCredential) and isinstance(default, DefaultAzureCredential)
    finally:
        await managed.close()
        await default.close()


def test_unreadable_ca_bundle_is_a_settings_error_naming_the_setting(tmp_path):
    settings = Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development", "KEY_VAULT_URL": "https://127.0.0.1:1",
                                      "KEY_VAULT_CA_BUNDLE": str(tmp_path / "missing.pem"),
                                      "KEY_VAULT_CREDENTIAL": "emulator"})
    with pytest.raises(SettingsError, match="KEY_VAULT_CA_BUNDLE"):
        KeyVaultSecretStore.from_settings(settings)
    with pytest.raises(SettingsError, match="KEY_VAULT_URL"):
        KeyVaultSecretStore.from_settings(Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development"}))


# -- throttling (the emulator answers 429 + Retry-After past its rate limit, as Key Vault does) --------------

def emulator_control(keyvault: KeyVaultEmulator, method: str, what: str, body: dict | None = None) -> dict:
    import requests

    response = requests.request(method, f"{keyvault.url}/_emulator/{what}", json=body, verify=keyvault.ca_bundle,
                                timeout=10)
    return response.json()


async def test_a_throttled_read_is_store_throttled_with_its_retry_after_and_not_retried(secret_store, keyvault):
    from gateway.stores.errors import StoreThrottled

    name = unique()
    await secret_store.set(name, "v")
    emulator_control(keyvault, "DELETE", "counts")
    emulator_control(keyvault, "PUT", "rate-limit", {"calls": 1, "seconds": 30})
    try:
        await secret_store.get(name)
        with pytest.raises(StoreThrottled) as throttled:
            await secret_store.get(name)
        assert 1 <= throttled.value.retry_after <= 30
        assert emulator_control(keyvault, "GET", "counts") == {"secrets.get": 1, "throttled": 1}  # no retry
    finally:
        emulator_control(keyvault, "DELETE", "rate-limit")


async def test_a_listing_resumes_a_throttled_page_where_it_was(secret_store, keyvault):
    prefix = unique("gw-listed")
    for n in range(60):  # three pages of 25
        await secret_store.set(f"{prefix}-{n:02d}", "v")
    everything = len(await secret_store.list())
    emulator_control(keyvault, "DELETE", "counts")
    pages = -(-everything // 25)
    emulator_control(keyvault, "PUT", "rate-limit", {"calls": pages - 1, "seconds": 2})
    try:
        listed = await secret_store.list()
    finally:
        emulator_control(keyvault, "DELETE", "rate-limit")
    assert len(listed) == everything and len({s.name for s in listed}) == everything
    counts = emulator_control(keyvault, "GET", "counts")
    assert counts["secrets.list"] == pages and counts["throttled"] >= 1  # every page read once: no restart
