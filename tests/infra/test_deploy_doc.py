"""docs/deploy.md ("Deploy to Azure") stays runnable: its commands parse and its parameters exist."""

from __future__ import annotations

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
    for needle in ("az deployment sub create", "func azure functionapp publish \"$APP\" --python", "azd up",
                   "az functionapp keys list", "signing-keys rotate", "az group delete", "az keyvault purge",
                   "adminAuthClientId=", "customDomainName=", "customDomainCertificateIssued=true",
                   "az ad app federated-credential create", "api.requestedAccessTokenVersion=2",
                   "python -m devtools.smoke_test"):
        assert needle in DOC, needle


def test_parameters_named_in_the_doc_exist():
    named = set(re.findall(r"(?<![-\w.])([a-z][A-Za-z]+)=", DOC))  # `a.b=` is a property path, not a parameter
    assert named, "the doc names template parameters"
    unknown = {name for name in named if name not in PARAMS}
    assert not unknown, f"the doc names parameters main.bicep lacks: {sorted(unknown)}"


@pytest.mark.parametrize("argv", cli_commands(), ids=lambda argv: " ".join(argv[4:6]))
def test_admin_cli_commands_parse(argv: list[str]):
    from gateway.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.base_url and args.key


def test_there_are_admin_cli_commands():
    groups = {argv[4] for argv in cli_commands()}
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
