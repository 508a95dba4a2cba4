"""docs/deploy.md ("Deploy to Azure") stays runnable: its commands parse and its parameters exist."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from tests.infra.bicep import INFRA, ROOT, BicepFile

DOC = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
PARAMS = set(BicepFile.load(INFRA / "main.bicep").params())


def shell_commands() -> list[str]:
    """Commands of the ```sh blocks, continuation lines joined, variables left as words."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", DOC, re.S):
        for command in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", command).strip()
            if command:
                commands.append(command)
    return commands


def _words(command: str) -> list[str]:
    command = re.sub(r"\[[^\]]*\]", "", command)  # optional parts, e.g. [--patient-id <id>]
    return shlex.split(command.replace("<", "'<").replace(">", ">'"))


def cli_commands() -> list[list[str]]:
    return [_words(c)[3:] for c in shell_commands() if c.startswith("python -m gateway.cli")]


def test_the_doc_covers_the_deployment_path():
    for needle in ("az deployment sub create", "func azure functionapp publish \"$APP\" --python",
                   "func azure functionapp publish \"$ADMIN_APP_NAME\" --python", "azd up",
                   "az functionapp function keys list", "signing-keys rotate", "az group delete", "az keyvault purge",
                   "azd down --purge", "adminAuthClientId=", "customDomainName=", "customDomainCertificateIssued=true",
                   "az ad app federated-credential create", "api.requestedAccessTokenVersion=2",
                   "python -m devtools.smoke_test", "ciPrincipalId=", "alertEmailAddresses=", "allowKeyOnlyAdmin=true",
                   "adminAllowedSources=", "DEPLOY_RUNNER", "Front Door"):
        assert needle in DOC, needle


def test_the_doc_walks_through_the_isolated_deployment():
    commands = shell_commands()
    assert "az provider register --namespace Microsoft.App --wait" in commands, "the subnet delegation's provider"
    isolated = [c for c in commands if c.startswith("az deployment sub create") and "networkIsolation=true" in c]
    assert len(isolated) == 2, "own network, then hub-and-spoke"
    assert "--parameters @isolation.parameters.json" in isolated[1]
    assert any("outbounD_IP_ADDRESS" in c for c in commands), "the outbound IP hospitals allow-list"
    for key in ("existingAppSubnetId", "existingAdminAppSubnetId", "existingPrivateEndpointSubnetId",
                "existingPrivateDnsZoneIds", "existingMonitorPrivateLinkScopeId"):
        assert f'"{key}"' in DOC and key in PARAMS, key
    assert any(c.startswith("az network bastion ssh") for c in commands), "a way into the network"
    assert "applicationInsightsPublicIngestion=false" in DOC and "availabilityResults" in DOC


def parameter_names() -> set[str]:
    """Template parameters the doc names: `name=value` after --parameters, and `name=...` in prose."""
    names = set()
    for command in shell_commands():
        for part in command.split("--parameters ")[1:]:
            names |= set(re.findall(r"(?:^|\s)([a-z][A-Za-z]+)=", part.split(" --", 1)[0]))
    prose = re.sub(r"```.*?```", "", DOC, flags=re.S)
    names |= set(re.findall(r"`([a-z][A-Za-z]+)=", prose))
    names |= set(re.findall(r"\(([a-z][A-Za-z]+)=", prose))
    return names


def test_parameters_named_in_the_doc_exist():
    named = parameter_names()
    assert {"environmentName", "adminAuthClientId", "networkIsolation", "ciPrincipalId", "publicBaseUrl"} <= named
    unknown = {name for name in named if name not in PARAMS}
    assert not unknown, f"the doc names parameters main.bicep lacks: {sorted(unknown)}"


def test_the_admin_api_registration_lets_the_azure_cli_get_a_token():
    """Identifier URI api://<appId>, a delegated scope, the Azure CLI pre-authorised for it, the role assigned."""
    commands = shell_commands()
    assert 'az ad app update --id "$ADMIN_APP" --identifier-uris "api://$ADMIN_APP"' in commands
    scope = next(c for c in commands if "oauth2PermissionScopes" in c)
    body = json.loads(re.search(r"--body \"(.*)\"$", scope).group(1).replace('\\"', '"').replace("$SCOPE_ID", "x"))
    assert body["api"]["oauth2PermissionScopes"][0]["value"] == "Gateway.Manage"
    assert body["api"]["requestedAccessTokenVersion"] == 2
    preauthorize = next(c for c in commands if "preAuthorizedApplications" in c)
    body = json.loads(re.search(r"--body \"(.*)\"$", preauthorize).group(1).replace('\\"', '"'))
    assert body["api"]["preAuthorizedApplications"] == [
        {"appId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "delegatedPermissionIds": ["$SCOPE_ID"]}]
    assert commands.index(scope) < commands.index(preauthorize), "the scope exists before it is pre-authorised"
    assert any("appRoleAssignedTo" in c for c in commands)
    assert 'az account get-access-token --resource "api://$ADMIN_APP" --query expiresOn -o tsv' in commands
    assert all("--audience \"api://$ADMIN_APP\"" in c for c in commands if c.startswith("python -m gateway.cli"))


@pytest.mark.parametrize("argv", cli_commands(), ids=lambda argv: " ".join(argv[6:8]))
def test_admin_cli_commands_parse(argv: list[str]):
    from gateway.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.base_url and args.key and args.audience


def test_there_are_admin_cli_commands():
    from gateway.cli import build_parser

    groups = {build_parser().parse_args(argv).group for argv in cli_commands()}
    assert {"routes", "clients", "signing-keys"} <= groups


def test_smoke_test_command_parses():
    from devtools.smoke_test import parse_args

    command = next(c for c in shell_commands() if "python -m devtools.smoke_test" in c)
    words = _words(command)
    environ = dict(w.split("=", 1) for w in words[:words.index("python")])
    args = parse_args(words[words.index("devtools.smoke_test") + 1:], environ)
    assert args.client_secret and args.function_key and args.tenant


def test_the_admin_app_registration_asks_for_v2_tokens_and_defines_the_role_the_template_requires():
    import json
    import uuid

    roles = json.loads((INFRA / "admin-app-roles.json").read_text(encoding="utf-8"))
    required = BicepFile.load(INFRA / "main.bicep").params()["adminRequiredRole"].default.strip("'")
    role = next(role for role in roles if role["value"] == required)
    assert role["allowedMemberTypes"] == ["User", "Application"], "people and automation can both hold the role"
    assert role["isEnabled"] is True
    uuid.UUID(role["id"])
    commands = shell_commands()
    create = next(c for c in commands if "az ad app create" in c and "gateway-admin" in c)
    assert "--app-roles @infra/admin-app-roles.json" in create
    assert any("az ad app update" in c and '"api.requestedAccessTokenVersion=2"' in c for c in commands)
    assert any(c.startswith("az ad sp create") for c in commands), "a service principal holds role assignments"
