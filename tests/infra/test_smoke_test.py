"""devtools/smoke_test.py against the local stack: the local Functions host serving the function
folders, Table Storage on Azurite, secrets on the Key Vault emulator and the demo provider, all over
real sockets; the route and the client are created through the admin API, as docs/deploy.md says."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from devtools.demo_provider.data import DEMO_PATIENT_ID
from devtools.demo_provider.server import running_provider
from gateway.cli import AdminClient
from gateway.config import Settings
from tests.fixtures.funchost import REPO_ROOT

pytestmark = pytest.mark.e2e

TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
FUNCTION_KEY = "smoke-test-function-key"


def host_env(settings: Settings) -> dict[str, str]:
    """The test's development settings (Azurite, Key Vault emulator, unique prefixes) as host environment."""
    return {
        "GATEWAY_ENVIRONMENT": "development",
        "TABLES_CONNECTION_STRING": settings.tables_connection_string or "",
        "TABLE_NAME_PREFIX": settings.table_name_prefix,
        "KEY_VAULT_URL": settings.key_vault_url or "",
        "KEY_VAULT_CA_BUNDLE": settings.key_vault_ca_bundle or "",
        "KEY_VAULT_VERIFY_CHALLENGE_RESOURCE": "false",
        "KEY_VAULT_CREDENTIAL": settings.key_vault_credential,
        "KEY_VAULT_SECRET_PREFIX": settings.key_vault_secret_prefix,
        "FHIR_VERSION": "STU3",
        "LOCAL_FUNCTION_KEY": FUNCTION_KEY,
    }


async def smoke(base_url: str, client_id: str, secret: str, *extra: str) -> tuple[int, str]:
    """``python -m devtools.smoke_test`` in a subprocess (the secret through the environment)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devtools.smoke_test", "--base-url", base_url, "--client-id", client_id,
        "--tenant", TENANT, *extra, cwd=REPO_ROOT, env={**os.environ, "SMOKE_CLIENT_SECRET": secret},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, output.decode()


def verdicts(output: str) -> dict[str, str]:
    return {line.split(" ", 2)[1].rstrip(":"): line.split(" ", 1)[0] for line in output.splitlines()
            if line.startswith(("PASS ", "FAIL ", "SKIP "))}


async def test_smoke_test_passes_against_the_local_stack_and_fails_clearly_on_a_wrong_secret(
        azure_settings: Settings, funchost):
    async with running_provider() as provider:
        host = funchost(host_env(azure_settings))
        # Advertised URLs must be the host's own, as PUBLIC_BASE_URL is in Azure: restart on the same port with it.
        host.env["PUBLIC_BASE_URL"] = host.base_url
        host.stop()
        host.start()

        admin = AdminClient(host.base_url, FUNCTION_KEY)
        status, _, _ = await asyncio.to_thread(admin.call, "PUT", f"/manage/routes/{TENANT}", {
            "fhirBaseUrl": provider.fhir_base("STU3"), "fhirVersion": "STU3", "displayName": "Demo hospital"})
        assert status == 201
        status, _, created = await asyncio.to_thread(admin.call, "POST", "/manage/clients", {
            "displayName": "Smoke test client", "allowedTenants": [TENANT]})
        assert status == 201
        client_id, secret = created["clientId"], created["clientSecret"]

        code, output = await smoke(host.base_url, client_id, secret,
                                   "--function-key", FUNCTION_KEY, "--patient-id", DEMO_PATIENT_ID)
        assert code == 0, output
        assert verdicts(output) == {"metadata": "PASS", "smart-configuration": "PASS", "token": "PASS",
                                    "admin-route": "PASS", "proxied-read": "PASS", "summary": "PASS"}, output
        assert f"GET /fhir/Patient/{DEMO_PATIENT_ID} -> Patient" in output
        assert secret not in output

        code, output = await smoke(host.base_url, client_id, secret, "--function-key", FUNCTION_KEY)
        assert code == 0, output
        assert "GET /fhir/Patient?_count=1 -> Bundle" in output

        wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
        code, output = await smoke(host.base_url, client_id, wrong, "--function-key", FUNCTION_KEY)
        assert code == 1, output
        lines = verdicts(output)
        assert lines["token"] == "FAIL" and lines["proxied-read"] == "FAIL" and lines["summary"] == "FAIL", output
        assert lines["metadata"] == "PASS" and lines["admin-route"] == "PASS", output
        assert "FAIL token: HTTP 401 error=invalid_client" in output
        assert wrong not in output and secret not in output
