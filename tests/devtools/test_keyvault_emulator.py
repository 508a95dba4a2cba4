"""The Key Vault emulator over real HTTPS: the production SecretClient where it can express the call,
plain ``requests`` for the raw protocol (challenge, error bodies, paging)."""

from __future__ import annotations

import asyncio
import json
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.secrets.aio import SecretClient

from devtools.keyvault_emulator.__main__ import is_loopback
from gateway.stores.keyvault import EmulatorCredential
from tests.fixtures.keyvault import ROOT, KeyVaultEmulator

pytestmark = pytest.mark.integration

API = "7.5"
AUTH = {"Authorization": "Bearer any-development-token"}


def unique(prefix: str = "s") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def call(kv: KeyVaultEmulator, method: str, path: str, *, api: str | None = API, headers: dict | None = None,
         **kwargs) -> requests.Response:
    params = {"api-version": api} if api else {}
    params.update(kwargs.pop("params", {}))
    return requests.request(method, f"{kv.url}{path}", params=params, headers=AUTH if headers is None else headers,
                            verify=kv.ca_bundle, timeout=10, **kwargs)


def error_of(response: requests.Response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["error"]


@pytest.fixture
async def client(keyvault: KeyVaultEmulator) -> AsyncIterator[SecretClient]:
    keyvault.start()
    async with SecretClient(keyvault.url, EmulatorCredential(), verify_challenge_resource=False,
                            connection_verify=keyvault.ca_bundle) as secret_client:
        yield secret_client


# -- transport and authentication -------------------------------------------------------------

def test_request_without_token_gets_the_key_vault_challenge(keyvault):
    response = call(keyvault, "GET", "/secrets", headers={})
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert re.fullmatch(r'Bearer authorization="https://login\.microsoftonline\.com/[0-9a-f-]{36}", '
                        r'resource="https://vault\.azure\.net"', challenge)
    assert error_of(response)["code"] == "Unauthorized"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer two words"])
def test_malformed_authorization_gets_the_challenge(keyvault, header):
    response = call(keyvault, "GET", "/secrets", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer authorization="https://login.microsoftonline.com/')


def test_missing_api_version_is_a_bad_parameter(keyvault):
    response = call(keyvault, "GET", "/secrets", api=None)
    assert response.status_code == 400
    assert error_of(response)["code"] == "BadParameter"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_certificate_is_trusted_for_loopback_names(keyvault, host):
    response = requests.get(f"https://{host}:{keyvault.port}/secrets", params={"api-version": API},
                            headers=AUTH, verify=keyvault.ca_bundle, timeout=10)
    assert response.status_code == 200


def test_untrusted_client_cannot_connect(keyvault):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{keyvault.url}/secrets", timeout=10)


def test_private_key_is_readable_by_owner_only(keyvault):
    mode = stat.S_IMODE((Path(keyvault.ca_bundle).parent / "key.pem").stat().st_mode)
    assert mode == 0o600


def test_refuses_to_listen_beyond_loopback():
    result = subprocess.run([sys.executable, "-m", "devtools.keyvault_emulator", "--host", "0.0.0.0", "--port", "0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "loopback" in result.stderr
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("192.168.1.10")


# -- set and get ---------------------------------------------------------------------------------

def test_set_and_get_have_key_vault_shapes(keyvault):
    name = unique()
    body = {"value": "s3cr3t", "tags": {"client": "c1"}, "contentType": "text/plain",
            "attributes": {"enabled": True, "exp": 1900000000, "nbf": 1700000000}}
    created = call(keyvault, "PUT", f"/secrets/{name}", json=body)
    assert created.status_code == 200
    bundle = created.json()
    version = bundle["id"].rsplit("/", 1)[1]
    assert bundle["id"] == f"{keyvault.url}/secrets/{name}/{version}"
    assert bundle["value"] == "s3cr3t" and bundle["tags"] == {"client": "c1"} and bundle["contentType"] == "text/plain"
    attributes = bundle["attributes"]
    assert attributes["enabled"] is True and attributes["exp"] == 1900000000 and attributes["nbf"] == 1700000000
    assert isinstance(attributes["created"], int) and attributes["created"] == attributes["updated"]
    assert attributes["recoveryLevel"] == "Recoverable+Purgeable"
    assert "kid" not in bundle and "managed" not in bundle

    for path in (f"/secrets/{name}", f"/secrets/{name}/", f"/secrets/{name}/{version}"):
        fetched = call(keyvault, "GET", path)
        assert fetched.status_code == 200
        assert fetched.json() == bundle


async def test_secret_client_round_trip_with_versions(client):
    name = unique()
    first = await client.set_secret(name, "one", tags={"k": "v"}, content_type="text/plain")
    second = await client.set_secret(name, "two")
    latest = await client.get_secret(name)
    assert (latest.value, latest.properties.version) == ("two", second.properties.version)
    old = await client.get_secret(name, first.properties.version)
    assert old.value == "one" and old.properties.tags == {"k": "v"} and old.properties.content_type == "text/plain"
    versions = [p async for p in client.list_properties_of_secret_versions(name)]
    assert sorted(p.version for p in versions) == sorted([first.properties.version, second.properties.version])


async def test_names_are_case_insensitive_and_keep_their_first_spelling(client):
    name = unique("CaseName")
    await client.set_secret(name, "v")
    fetched = await client.get_secret(name.lower())
    assert fetched.value == "v" and fetched.name == name


async def test_unknown_secret_and_version_are_not_found(client, keyvault):
    with pytest.raises(ResourceNotFoundError):
        await client.get_secret(unique())
    name = unique()
    await client.set_secret(name, "v")
    with pytest.raises(ResourceNotFoundError):
        await client.get_secret(name, uuid.uuid4().hex)
    response = call(keyvault, "GET", f"/secrets/{unique()}/")
    assert response.status_code == 404 and error_of(response)["code"] == "SecretNotFound"


@pytest.mark.parametrize("name", ["bad_name", "x" * 128, "dot.name"])
def test_invalid_names_are_bad_parameters(keyvault, name):
    response = call(keyvault, "PUT", f"/secrets/{name}", json={"value": "v"})
    assert response.status_code == 400 and error_of(response)["code"] == "BadParameter"


@pytest.mark.parametrize("body", [b"{not json", b'{"tags": {}}', b'{"value": 5}', b'{"value": "v", "tags": [1]}',
                                  b'{"value": "v", "attributes": {"exp": "tomorrow"}}'])
def test_invalid_set_bodies_are_bad_parameters_and_change_nothing(keyvault, body):
    name = unique()
    response = call(keyvault, "PUT", f"/secrets/{name}", data=body,
                    headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400 and error_of(response)["code"] == "BadParameter"
    assert call(keyvault, "GET", f"/secrets/{name}").status_code == 404


def test_unknown_paths_and_methods(keyvault):
    assert call(keyvault, "GET", "/keys/whatever").status_code == 404
    response = call(keyvault, "POST", f"/secrets/{unique()}")
    assert response.status_code == 405 and error_of(response)["code"] == "MethodNotAllowed"


# -- listing and paging --------------------------------------------------------------------------

def test_list_pages_with_next_link_and_never_shows_values(keyvault):
    prefix = unique("page")
    names = {f"{prefix}-{i}" for i in range(5)}
    for name in names:
        assert call(keyvault, "PUT", f"/secrets/{name}", json={"value": "hidden-value"}).status_code == 200
    seen: list[str] = []
    response = call(keyvault, "GET", "/secrets", params={"maxresults": "2"})
    pages = 0
    while True:
        assert response.status_code == 200
        page = response.json()
        pages += 1
        assert len(page["value"]) <= 2
        for item in page["value"]:
            assert "value" not in item
            assert item["id"].startswith(f"{keyvault.url}/secrets/")
            seen.append(item["id"].rsplit("/", 1)[1])
        if not page["nextLink"]:
            break
        response = requests.get(page["nextLink"], headers=AUTH, verify=keyvault.ca_bundle, timeout=10)
    assert names <= set(seen) and len(seen) == len(set(seen)) and pages >= 3


async def test_secret_client_lists_every_page(client):
    prefix = unique("list")
    names = {f"{prefix}-{i}" for i in range(4)}
    for name in names:
        await client.set_secret(name, "v")
    listed = [p async for p in client.list_properties_of_secrets(max_page_size=1)]
    assert names <= {p.name for p in listed}
    assert all(p.version is None for p in listed)


@pytest.mark.parametrize("params", [{"maxresults": "0"}, {"maxresults": "26"}, {"maxresults": "ten"},
                                    {"$skiptoken": "not-a-token"}])
def test_bad_paging_parameters(keyvault, params):
    response = call(keyvault, "GET", "/secrets", params=params)
    assert response.status_code == 400 and error_of(response)["code"] == "BadParameter"


def test_versions_of_an_unknown_secret_are_an_empty_list(keyvault):
    response = call(keyvault, "GET", f"/secrets/{unique()}/versions")
    assert response.status_code == 200 and response.json() == {"value": [], "nextLink": None}


# -- update attributes ---------------------------------------------------------------------------

async def test_update_attributes_and_disabled_secret_refuses_its_value(client, keyvault):
    name = unique()
    created = await client.set_secret(name, "v1")
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    not_before = datetime(2026, 1, 1, tzinfo=UTC)
    updated = await client.update_secret_properties(name, enabled=False, tags={"state": "off"},
                                                    content_type="application/x-verifier", expires_on=expires,
                                                    not_before=not_before)
    assert updated.version == created.properties.version
    assert (updated.enabled, updated.tags, updated.content_type) == (False, {"state": "off"}, "application/x-verifier")
    assert (updated.expires_on, updated.not_before) == (expires, not_before)
    with pytest.raises(HttpResponseError) as info:
        await client.get_secret(name)
    assert info.value.status_code == 403
    raw = call(keyvault, "GET", f"/secrets/{name}")
    error = error_of(raw)
    assert error == {"code": "Forbidden", "message": "Operation get is not allowed on a disabled secret.",
                     "innererror": {"code": "SecretDisabled"}}
    await client.update_secret_properties(name, enabled=True)
    assert (await client.get_secret(name)).value == "v1"


async def test_update_a_given_version_leaves_the_others(client):
    name = unique()
    first = await client.set_secret(name, "one")
    await client.set_secret(name, "two")
    await client.update_secret_properties(name, first.properties.version, tags={"old": "yes"})
    assert (await client.get_secret(name, first.properties.version)).properties.tags == {"old": "yes"}
    assert not (await client.get_secret(name)).properties.tags


async def test_update_of_unknown_secret_is_not_found(client):
    with pytest.raises(ResourceNotFoundError):
        await client.update_secret_properties(unique(), enabled=False)


# -- delete, recover, purge ----------------------------------------------------------------------

async def test_soft_delete_recover_and_purge(client, keyvault):
    name = unique()
    await client.set_secret(name, "keep-me")
    await client.set_secret(name, "latest")
    deleted = await client.delete_secret(name, _polling_interval=0.05)
    assert deleted.recovery_id == f"{keyvault.url}/deletedsecrets/{name}"
    assert deleted.scheduled_purge_date - deleted.deleted_date == timedelta(days=90)
    with pytest.raises(ResourceNotFoundError):
        await client.get_secret(name)
    assert (await client.get_deleted_secret(name)).recovery_id == deleted.recovery_id
    assert name in {d.name async for d in client.list_deleted_secrets()}
    assert name not in {p.name async for p in client.list_properties_of_secrets()}

    with pytest.raises(ResourceExistsError) as conflict:
        await client.set_secret(name, "reuse")
    assert conflict.value.error.code == "Conflict"

    await client.recover_deleted_secret(name, _polling_interval=0.05)
    assert (await client.get_secret(name)).value == "latest"
    assert len([v async for v in client.list_properties_of_secret_versions(name)]) == 2

    await client.delete_secret(name, _polling_interval=0.05)
    purged = call(keyvault, "DELETE", f"/deletedsecrets/{name}")
    assert purged.status_code == 204 and purged.content == b""
    with pytest.raises(ResourceNotFoundError):
        await client.get_deleted_secret(name)
    assert (await client.set_secret(name, "fresh")).value == "fresh"


def test_deleted_secret_shapes_and_errors(keyvault):
    name = unique()
    call(keyvault, "PUT", f"/secrets/{name}", json={"value": "v"})
    deleted = call(keyvault, "DELETE", f"/secrets/{name}").json()
    assert "value" not in deleted
    assert isinstance(deleted["deletedDate"], int) and isinstance(deleted["scheduledPurgeDate"], int)
    assert deleted["id"].startswith(f"{keyvault.url}/secrets/{name}/")
    listed = call(keyvault, "GET", "/deletedsecrets", params={"maxresults": "25"}).json()
    assert "nextLink" in listed
    for path, method in ((f"/secrets/{name}", "DELETE"), (f"/deletedsecrets/{unique()}", "GET"),
                         (f"/deletedsecrets/{unique()}", "DELETE"), (f"/deletedsecrets/{unique()}/recover", "POST")):
        response = call(keyvault, method, path)
        assert response.status_code == 404 and error_of(response)["code"] == "SecretNotFound"


def test_purge_protection_refuses_purges(tmp_path):
    emulator = KeyVaultEmulator(tmp_path / "protected", None, "--purge-protection")
    emulator.start()
    try:
        name = unique()
        assert call(emulator, "PUT", f"/secrets/{name}", json={"value": "v"}).json()["attributes"]["recoveryLevel"] \
            == "Recoverable"
        call(emulator, "DELETE", f"/secrets/{name}")
        response = call(emulator, "DELETE", f"/deletedsecrets/{name}")
        assert response.status_code == 403 and error_of(response)["innererror"]["code"] == "PurgeProtectionEnabled"
        assert call(emulator, "GET", f"/deletedsecrets/{name}").status_code == 200
    finally:
        emulator.stop()


# -- state ---------------------------------------------------------------------------------------

def test_state_and_certificate_survive_a_restart(tmp_path):
    emulator = KeyVaultEmulator(tmp_path / "vault")
    emulator.start()
    try:
        kept, gone = unique(), unique()
        first = call(emulator, "PUT", f"/secrets/{kept}", json={"value": "one", "tags": {"t": "1"}}).json()
        call(emulator, "PUT", f"/secrets/{kept}", json={"value": "two"})
        call(emulator, "PUT", f"/secrets/{gone}", json={"value": "x"})
        call(emulator, "DELETE", f"/secrets/{gone}")
        cert = Path(emulator.ca_bundle).read_bytes()
        assert emulator.stop() == 0  # SIGTERM stops it cleanly
        emulator.start()
        assert call(emulator, "GET", f"/secrets/{kept}").json()["value"] == "two"
        assert call(emulator, "GET", f"/secrets/{kept}/{first['id'].rsplit('/', 1)[1]}").json() == first
        assert call(emulator, "GET", f"/deletedsecrets/{gone}").status_code == 200
        assert Path(emulator.ca_bundle).read_bytes() == cert
        state = json.loads((tmp_path / "vault" / "vault.json").read_text())
        assert {s["name"] for s in state["secrets"]} == {kept}
    finally:
        emulator.stop()


async def test_concurrent_sets_all_become_versions(client, keyvault):
    name = unique()
    results = await asyncio.gather(*(client.set_secret(name, f"value-{i}") for i in range(20)))
    versions = {p.version async for p in client.list_properties_of_secret_versions(name)}
    assert versions == {r.properties.version for r in results} and len(versions) == 20
    state = json.loads((Path(keyvault.ca_bundle).parent / "vault.json").read_text())
    stored = next(s for s in state["secrets"] if s["name"] == name)
    assert len(stored["versions"]) == 20
