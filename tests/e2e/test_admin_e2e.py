"""The admin API end to end: local Functions host (admin_fn, token_fn) on Azurite and the Key Vault
emulator, driven over HTTP, by the CLI, and by schemathesis against the OpenAPI document."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway.config import Settings
from tests.support.constants import TENANT

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
KEY = "e2e-admin-function-key-7f3a"
SCHEMATHESIS_EXAMPLES = int(os.environ.get("ADMIN_SCHEMATHESIS_EXAMPLES", "40"))


def host_env(settings: Settings, azurite, keyvault, **extra: str) -> dict[str, str]:
    return {"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": "http://localhost:7071",
            **azurite.settings(), **keyvault.settings(), "TABLE_NAME_PREFIX": settings.table_name_prefix,
            "KEY_VAULT_SECRET_PREFIX": settings.key_vault_secret_prefix, "LOCAL_FUNCTION_KEY": KEY, **extra}


@pytest.fixture
def host(azure_settings, azurite, keyvault, funchost):
    return funchost(host_env(azure_settings, azurite, keyvault))


def admin(host) -> httpx.Client:
    return httpx.Client(base_url=host.base_url, headers={"x-functions-key": KEY}, timeout=30)


def token(host, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(f"{host.base_url}/oauth2/token", timeout=30,
                      data={"grant_type": "client_credentials", "scope": TENANT},
                      auth=(client_id, secret))


def test_function_key_is_required(host):
    assert httpx.get(f"{host.base_url}/manage/clients", timeout=30).status_code == 401
    wrong = httpx.get(f"{host.base_url}/manage/clients", headers={"x-functions-key": "wrong"}, timeout=30)
    assert wrong.status_code == 401
    by_query = httpx.get(f"{host.base_url}/manage/clients?code={KEY}", timeout=30)
    assert by_query.status_code == 200 and by_query.json() == {"items": [], "nextLink": None}


def test_onboarding_rotation_and_revocation_over_http(host):
    with admin(host) as api:
        route = api.put(f"/manage/routes/{TENANT}", json={"fhirBaseUrl": "http://127.0.0.1:9/fhir",
                                                          "fhirVersion": "STU3", "displayName": "Contoso"})
        assert route.status_code == 201 and route.headers["ETag"]
        created = api.post("/manage/clients", json={"displayName": "Teams", "allowedTenants": [TENANT]})
        assert created.status_code == 201
        client_id, first = created.json()["clientId"], created.json()["clientSecret"]
        issued = token(host, client_id, first)
        assert issued.status_code == 200, issued.text
        assert issued.json()["token_type"].lower() == "bearer"

        second = api.post(f"/manage/clients/{client_id}/secrets")
        assert second.status_code == 201
        assert api.post(f"/manage/clients/{client_id}/secrets").status_code == 409
        assert token(host, client_id, second.json()["clientSecret"]).status_code == 200
        assert token(host, client_id, first).status_code == 200  # both work during the rotation

        revoke = api.delete(f"/manage/clients/{client_id}/secrets/{created.json()['secretId']}")
        assert revoke.status_code == 204
        refused = token(host, client_id, first)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert token(host, client_id, second.json()["clientSecret"]).status_code == 200

        disabled = api.patch(f"/manage/clients/{client_id}", json={"enabled": False})
        assert disabled.status_code == 200
        assert token(host, client_id, second.json()["clientSecret"]).status_code in (400, 401)

        audit = api.get("/manage/audit").json()["items"]
        assert {"route.create", "client.create", "secret.add", "secret.revoke", "client.update"} <= \
            {r["action"] for r in audit}
        assert all(r["actor"].startswith("function-key:") and KEY not in r["actor"] for r in audit)
        text = json.dumps(audit)
        assert first.split(".")[1] not in text and second.json()["clientSecret"].split(".")[1] not in text
    assert first.split(".")[1] not in host.output() and KEY not in host.output()


def test_problem_details_over_http(host):
    with admin(host) as api:
        bad = api.put(f"/manage/routes/{TENANT}", content=b"{", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
        wrong = api.put(f"/manage/routes/{TENANT}", json={"fhirBaseUrl": "http://127.0.0.1:9/f", "fhirVersion": "R5"})
        assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "fhirVersion"
        assert api.get("/manage/clients/not-a-guid").status_code == 400
        assert api.get("/manage/nothing-here").status_code == 404


def test_role_required_when_configured(azure_settings, azurite, keyvault, funchost, entra_issuer):
    host = funchost(host_env(azure_settings, azurite, keyvault, **entra_issuer.settings()))
    with admin(host) as api:
        assert api.get("/manage/clients").status_code == 401
        reader = {"Authorization": f"Bearer {entra_issuer.user_token(roles=['Gateway.Reader'])}"}
        assert api.get("/manage/clients", headers=reader).status_code == 403
        signed_in = {"Authorization": f"Bearer {entra_issuer.user_token()}"}
        allowed = api.post("/manage/clients", json={"displayName": "x", "allowedTenants": ["*"]}, headers=signed_in)
        assert allowed.status_code == 201
        audit = api.get("/manage/audit", headers=signed_in).json()["items"]
        assert audit[0]["actor"] == "entra:oid:a1b2c3d4-0000-4000-8000-00000000a11c"
        assert audit[0]["actorDisplayName"] == "alice@contoso.example"


def cli(host, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_ADMIN_URL": host.base_url, "GATEWAY_ADMIN_KEY": KEY}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_cli_against_the_local_host(host):
    put = cli(host, "routes", "put", TENANT, "--fhir-base-url", "http://127.0.0.1:9/fhir", "--fhir-version", "STU3",
              "--display-name", "Contoso")
    assert put.returncode == 0, put.stderr
    created = cli(host, "--json", "clients", "create", "--name", "Teams", "--tenant", TENANT)
    assert created.returncode == 0 and "shown only once" in created.stderr
    payload = json.loads(created.stdout)
    assert token(host, payload["clientId"], payload["clientSecret"]).status_code == 200
    added = cli(host, "--json", "secrets", "add", payload["clientId"])
    assert added.returncode == 0
    third = cli(host, "secrets", "add", payload["clientId"])
    assert third.returncode == 1 and "409 Conflict" in third.stderr
    revoked = cli(host, "secrets", "revoke", payload["clientId"], payload["secretId"])
    assert revoked.returncode == 0
    listing = cli(host, "clients", "list")
    assert listing.returncode == 0 and payload["clientId"] in listing.stdout and "NAME" in listing.stdout
    keys = cli(host, "signing-keys", "rotate")
    assert keys.returncode == 0 and "KID" in keys.stdout
    audit = cli(host, "audit", "--limit", "50")
    assert audit.returncode == 0 and "secret.revoke" in audit.stdout
    denied = subprocess.run([sys.executable, "-m", "gateway.cli", "--base-url", host.base_url, "--key", "nope",
                             "clients", "list"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert denied.returncode == 1 and "401" in denied.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)  # the schemathesis run has its own 900 s bound; the suite default (120 s) is too short
def test_schemathesis_against_the_openapi_document(host, tmp_path):
    """Property-based run of every documented operation: no 5xx, responses match the document."""
    # A privateKeyJwt route creates the provider key the rotation operation acts on; named as the document's
    # example names it, so that the generated requests reach a key that exists.
    with admin(host) as api:
        route = api.put("/manage/routes/0f8fad5b-d9cb-469f-a165-70867728950e", json={
            "fhirBaseUrl": "http://127.0.0.1:9/fhir", "fhirVersion": "STU3",
            "upstreamAuth": {"type": "privateKeyJwt", "tokenUrl": "http://127.0.0.1:9/token", "clientId": "gw",
                             "keyName": "gateway"}})
        assert route.status_code == 201, route.text
    checks = ",".join(["not_a_server_error", "status_code_conformance", "content_type_conformance",
                       "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
                       "unsupported_method", "ignored_auth"])
    report = tmp_path / "report.json"
    command = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{host.base_url}/manage/openapi.json",
               "--url", host.base_url, "-H", f"x-functions-key: {KEY}", "--checks", checks,
               "--max-examples", str(SCHEMATHESIS_EXAMPLES), "--phases", "examples,coverage,fuzzing",
               "--workers", "1", "--seed", os.environ.get("ADMIN_SCHEMATHESIS_SEED", "20261125"),
               "--request-timeout", "30", "--report", "json", "--report-json-path", str(report),
               "--suppress-health-check", "all", "--no-color"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "No issues found" in output
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) >= 300, output[-2000:]
    print(f"schemathesis: {generated.group(1)} test cases, no issues")
    server_errors = [line for line in host.output().splitlines() if re.search(r" 5\d\d [\d.]+ms", line)]
    assert server_errors == []
