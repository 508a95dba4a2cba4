"""The admin CLI with Entra ID authentication: a token from --token / GATEWAY_ADMIN_TOKEN or from the Azure CLI.

The documented app registration (docs/deploy.md) is exercised end to end: `gateway-admin --audience api://<appId>`
asks the Azure CLI for a token for the identifier URI and the admin API, configured as the template configures it
(audience = the client id), accepts the delegated v2 token Entra issues for it.

The admin API runs over a real loopback socket against a local Entra ID issuer; ``az`` is a small
executable on ``PATH`` that records its arguments and answers like ``az account get-access-token``
(the Azure CLI itself cannot sign in on this machine).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from gateway import cli
from gateway.services import memory_services
from tests.fixtures.common import make_settings
from tests.fixtures.entra import ADMIN_APP_ID, AUDIENCE, CLI_APP_ID
from tests.unit.test_cli import KEY, AdminServer


@pytest.fixture
async def entra_server(entra_issuer, clock):
    services = memory_services(make_settings(**entra_issuer.settings()), clock)
    srv = AdminServer(services, asyncio.get_running_loop())
    yield srv
    await asyncio.to_thread(srv.stop)


async def run_cli(server: AdminServer, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(cli.main, ["--base-url", f"http://127.0.0.1:{server.port}", "--key", KEY, *argv],
                                   out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def fake_az(directory: Path, *, stdout: str, exit_code: int = 0, stderr: str = "") -> Path:
    """An ``az`` on PATH that writes its arguments to ``az-args.json`` and prints ``stdout``."""
    record = directory / "az-args.json"
    script = directory / "az"
    script.write_text(f"#!{sys.executable}\n"
                      "import json, sys\n"
                      f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
                      f"sys.stdout.write({stdout!r})\n"
                      f"sys.stderr.write({stderr!r})\n"
                      f"sys.exit({exit_code})\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return record


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("GATEWAY_ADMIN_TOKEN", "GATEWAY_ADMIN_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


async def test_token_flag_or_environment_signs_the_requests(entra_server, entra_issuer, clean_env, monkeypatch):
    code, _, err = await run_cli(entra_server, "clients", "list")
    assert code == 1 and "401" in err and "GATEWAY_ADMIN_TOKEN" in err
    code, out, _ = await run_cli(entra_server, "--token", entra_issuer.user_token(), "clients", "create",
                                 "--name", "Teams", "--tenant", "*")
    assert code == 0 and "clientSecret" in out
    monkeypatch.setenv("GATEWAY_ADMIN_TOKEN", entra_issuer.app_token())
    code, out, _ = await run_cli(entra_server, "--json", "audit")
    assert code == 0
    records = {(item["action"], item["actor"].split(" ")[0]) for item in json.loads(out)["items"]}
    assert ("client.create", "entra:alice@contoso.example") in records
    reader = entra_issuer.user_token(roles=["Gateway.Reader"])
    code, _, err = await run_cli(entra_server, "--token", reader, "clients", "list")
    assert code == 1 and "403" in err and "app role" in err


async def test_audience_gets_the_token_from_the_azure_cli(entra_server, entra_issuer, clean_env):
    record = fake_az(clean_env, stdout=json.dumps({"accessToken": entra_issuer.user_token(),
                                                   "expiresOn": "2026-12-01 10:00:00.000000", "tokenType": "Bearer"}))
    code, out, err = await run_cli(entra_server, "--audience", AUDIENCE, "clients", "list")
    assert (code, err) == (0, "")
    assert json.loads(record.read_text()) == ["account", "get-access-token", "--resource", AUDIENCE, "--output", "json"]


async def test_the_azure_cli_is_not_asked_without_an_audience_or_with_a_token(entra_server, entra_issuer,
                                                                              clean_env):
    record = fake_az(clean_env, stdout=json.dumps({"accessToken": entra_issuer.user_token()}))
    assert (await run_cli(entra_server, "clients", "list"))[0] == 1
    assert (await run_cli(entra_server, "--token", entra_issuer.user_token(), "--audience", AUDIENCE,
                          "clients", "list"))[0] == 0
    assert not record.exists()


@pytest.mark.parametrize("stdout, exit_code, stderr, message", [
    ("", 1, "ERROR: Please run 'az login' to setup account.\n", "Please run 'az login'"),
    ("not json", 0, "", "no accessToken"),
    ('{"accessToken": ""}', 0, "", "no accessToken"),
])
async def test_azure_cli_failures_are_clear_errors(entra_server, clean_env, stdout, exit_code, stderr, message):
    fake_az(clean_env, stdout=stdout, exit_code=exit_code, stderr=stderr)
    code, _, err = await run_cli(entra_server, "--audience", AUDIENCE, "clients", "list")
    assert code == 2 and "cannot get an Entra ID token" in err and message in err


async def test_without_the_azure_cli_the_error_says_what_to_do(entra_server, clean_env, monkeypatch):
    monkeypatch.setenv("PATH", str(clean_env))
    code, _, err = await run_cli(entra_server, "--audience", AUDIENCE, "clients", "list")
    assert code == 2 and "az login" in err and "--token" in err


# ---------------------------------------------------------------- the documented app registration, end to end
IDENTIFIER_URI = f"api://{ADMIN_APP_ID}"
DELEGATED_SCOPE = "Gateway.Manage"


def fake_az_for_resources(directory: Path, tokens: dict[str, str]) -> Path:
    """An ``az`` that answers ``account get-access-token --resource R`` with the token Entra would issue for R, and
    for any other resource fails as Entra does for an API that is not registered (AADSTS500011)."""
    record = directory / "az-args.json"
    script = directory / "az"
    script.write_text(f"#!{sys.executable}\n"
                      "import json, sys\n"
                      f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
                      f"tokens = {tokens!r}\n"
                      "resource = sys.argv[sys.argv.index('--resource') + 1]\n"
                      "if resource not in tokens:\n"
                      "    sys.stderr.write('ERROR: AADSTS500011: The resource principal named ' + resource"
                      " + ' was not found in the tenant.\\n')\n"
                      "    sys.exit(1)\n"
                      "print(json.dumps({'accessToken': tokens[resource], 'tokenType': 'Bearer'}))\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return record


@pytest.fixture
async def deployed_admin(entra_issuer, clock):
    """The admin API configured as infra/main.bicep configures it: the audience is the registration's client id
    (v2 access tokens carry it as `aud` whatever identifier URI was asked for)."""
    services = memory_services(make_settings(**entra_issuer.settings(audience=ADMIN_APP_ID)), clock)
    srv = AdminServer(services, asyncio.get_running_loop())
    yield srv
    await asyncio.to_thread(srv.stop)


def cli_token(entra_issuer, **overrides) -> str:
    """A delegated v2 token as Entra issues it to the Azure CLI for `--resource api://<appId>`: aud the client id,
    azp the Azure CLI, scp the exposed scope, roles the app role assigned to the user."""
    return entra_issuer.user_token(**{"aud": ADMIN_APP_ID, "azp": CLI_APP_ID, "scp": DELEGATED_SCOPE, **overrides})


async def test_gateway_admin_works_with_the_azure_cli_token_for_the_identifier_uri(deployed_admin, entra_issuer,
                                                                                   clean_env):
    record = fake_az_for_resources(clean_env, {IDENTIFIER_URI: cli_token(entra_issuer)})
    code, out, err = await run_cli(deployed_admin, "--audience", IDENTIFIER_URI, "clients", "create",
                                   "--name", "Teams", "--tenant", "*")
    assert code == 0 and "clientSecret" in out and "ERROR" not in err
    assert json.loads(record.read_text()) == ["account", "get-access-token", "--resource", IDENTIFIER_URI,
                                              "--output", "json"]
    code, out, _ = await run_cli(deployed_admin, "--audience", IDENTIFIER_URI, "--json", "audit")
    assert code == 0
    actors = {item["actor"].split(" ")[0] for item in json.loads(out)["items"] if item["action"] == "client.create"}
    assert actors == {"entra:alice@contoso.example"}


async def test_the_environment_variable_names_the_identifier_uri_too(deployed_admin, entra_issuer, clean_env,
                                                                    monkeypatch):
    fake_az_for_resources(clean_env, {IDENTIFIER_URI: cli_token(entra_issuer)})
    monkeypatch.setenv("GATEWAY_ADMIN_AUDIENCE", IDENTIFIER_URI)
    assert (await run_cli(deployed_admin, "clients", "list"))[0] == 0


async def test_a_user_without_the_app_role_is_refused(deployed_admin, entra_issuer, clean_env):
    fake_az_for_resources(clean_env, {IDENTIFIER_URI: cli_token(entra_issuer, roles=[])})
    code, _, err = await run_cli(deployed_admin, "--audience", IDENTIFIER_URI, "clients", "list")
    assert code == 1 and "403" in err and "app role" in err


async def test_a_token_for_another_api_is_refused(deployed_admin, entra_issuer, clean_env):
    """A v1 token or one for another registration carries another aud: the API refuses it."""
    other = "api://11111111-2222-3333-4444-555555555555"
    fake_az_for_resources(clean_env, {other: cli_token(entra_issuer, aud=other)})
    code, _, err = await run_cli(deployed_admin, "--audience", other, "clients", "list")
    assert code == 1 and "401" in err


async def test_an_unregistered_identifier_uri_is_a_clear_error(deployed_admin, entra_issuer, clean_env):
    fake_az_for_resources(clean_env, {IDENTIFIER_URI: cli_token(entra_issuer)})
    code, _, err = await run_cli(deployed_admin, "--audience", "api://not-registered", "clients", "list")
    assert code == 2 and "AADSTS500011" in err and "cannot get an Entra ID token" in err
