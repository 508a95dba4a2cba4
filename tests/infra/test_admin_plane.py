"""The admin plane is not on the internet behind one shared key by default, read from what main.bicep deploys.

- Without an Entra ID app registration the deployment fails unless key-only admin is chosen (allowKeyOnlyAdmin).
- The admin API runs in its own app (the same package, the other functions disabled), private with
  networkIsolation, limited to allowed sources without it.
- The CI principal publishes code with a custom role that cannot read function or host keys.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.infra.bicep import INFRA, ROOT
from tests.infra.deployments import ADMIN_APP_ID, BASE, CI_PRINCIPAL, app, app_settings, mode, render
from tests.infra.evaluate import DeploymentFailed

FUNCTION_FOLDERS = sorted(path.parent.name for path in ROOT.glob("*_fn/function.json"))
WEBSITE_CONTRIBUTOR = "de139f84-1756-47ae-9be6-808fbbe84772"
KEY_READING_ACTIONS = ("listkeys", "functionkeys", "/keys/", "config/write", "sites/write", "*")


# ---------------------------------------------------------------- Entra ID by default
def test_deploying_without_an_admin_app_registration_fails_unless_key_only_is_chosen():
    without = {k: v for k, v in BASE.items() if k != "adminAuthClientId"}
    with pytest.raises(DeploymentFailed, match="allowKeyOnlyAdmin"):
        render(base=without)
    chosen = render(base=without, allowKeyOnlyAdmin=True)
    settings = app_settings(chosen, "admin")
    assert settings["ADMIN_AUTH_AUTHORITY"] == settings["ADMIN_AUTH_AUDIENCE"] == settings["ADMIN_REQUIRED_ROLE"] == ""
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["allowKeyOnlyAdmin"]["value"] == "${GATEWAY_ALLOW_KEY_ONLY_ADMIN=false}"
    assert parameters["adminAuthClientId"]["value"] == "${GATEWAY_ADMIN_AUTH_CLIENT_ID}"


@pytest.mark.parametrize("name", ["flex", "flex-isolated", "consumption"])
def test_both_apps_verify_admin_tokens_of_the_registration(name):
    deployment = mode(name)
    for service in ("api", "admin"):
        settings = app_settings(deployment, service)
        assert settings["ADMIN_AUTH_AUDIENCE"] == ADMIN_APP_ID, "v2 access tokens carry the client id as aud"
        assert settings["ADMIN_AUTH_AUTHORITY"].endswith("/v2.0")
        assert settings["ADMIN_REQUIRED_ROLE"] == "Gateway.Admin"


# ---------------------------------------------------------------- two apps, one package
def disabled(settings: dict) -> set[str]:
    found = set()
    for key, value in settings.items():
        match = re.fullmatch(r"AzureWebJobs\.(\w+)\.Disabled", key)
        if match:
            assert value == "true", key
            found.add(match.group(1))
    return found


@pytest.mark.parametrize("name", ["flex", "flex-isolated", "consumption"])
def test_each_function_runs_in_exactly_one_app(name):
    deployment = mode(name)
    data_off, admin_off = disabled(app_settings(deployment, "api")), disabled(app_settings(deployment, "admin"))
    assert data_off == {"admin_fn"}
    assert admin_off == set(FUNCTION_FOLDERS) - {"admin_fn"}
    assert not data_off & admin_off
    # learn.microsoft.com, "How to disable functions": names with a hyphen cannot be disabled on Linux.
    assert all("-" not in folder for folder in FUNCTION_FOLDERS)


def test_azd_publishes_the_same_package_to_both_apps():
    document = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert document["services"] == {service: {"project": ".", "language": "python", "host": "function"}
                                    for service in ("api", "admin")}
    deployment = mode("flex")
    assert {site.body["tags"]["azd-service-name"] for site in deployment.of_type("Microsoft.Web/sites")} == \
        {"api", "admin"}
    assert deployment.outputs["SERVICE_API_NAME"] == app(deployment, "api").name
    assert deployment.outputs["SERVICE_ADMIN_NAME"] == app(deployment, "admin").name
    assert deployment.outputs["ADMIN_BASE_URL"].endswith("/manage") and "gwadm" in deployment.outputs["ADMIN_BASE_URL"]


# ---------------------------------------------------------------- /manage off the internet
def test_with_isolation_the_admin_app_has_no_public_access_and_a_private_endpoint():
    deployment = mode("flex-isolated")
    admin = app(deployment, "admin")
    assert admin.properties["publicNetworkAccess"] == "Disabled"
    endpoint = next(e for e in deployment.of_type("Microsoft.Network/privateEndpoints")
                    if e.properties["privateLinkServiceConnections"][0]["properties"]["privateLinkServiceId"]
                    == admin.id)
    assert endpoint.properties["privateLinkServiceConnections"][0]["properties"]["groupIds"] == ["sites"]
    ignored = render(networkIsolation=True, adminAllowedSources=["203.0.113.0/24"])
    assert app(ignored, "admin").properties["siteConfig"]["ipSecurityRestrictions"] is None


def test_without_isolation_an_access_restriction_limits_the_admin_app_only():
    deployment = render(adminAllowedSources=["203.0.113.0/24", "AzureCloud"])
    site_config = app(deployment, "admin").properties["siteConfig"]
    assert site_config["ipSecurityRestrictions"] == [
        {"name": "allow-0", "priority": 100, "action": "Allow", "ipAddress": "203.0.113.0/24", "tag": "Default"},
        {"name": "allow-1", "priority": 101, "action": "Allow", "ipAddress": "AzureCloud", "tag": "ServiceTag"}]
    assert site_config["ipSecurityRestrictionsDefaultAction"] == "Deny"
    assert site_config["scmIpSecurityRestrictionsUseMain"] is False, "deployments (Entra ID) keep reaching scm"
    data_config = app(deployment, "api").properties["siteConfig"]
    assert data_config["ipSecurityRestrictions"] is None and data_config["ipSecurityRestrictionsDefaultAction"] is None
    open_admin = app(mode("flex"), "admin").properties["siteConfig"]
    assert open_admin["ipSecurityRestrictions"] is None


# ---------------------------------------------------------------- the CI principal
def code_publisher(deployment) -> dict:
    return deployment.one("Microsoft.Authorization/roleDefinitions").properties


@pytest.mark.parametrize("plan", ["FlexConsumption", "Consumption"])
def test_the_ci_principal_can_publish_but_not_read_keys(plan):
    deployment = render(ciPrincipalId=CI_PRINCIPAL, hostingPlan=plan)
    role = code_publisher(deployment)
    actions = role["permissions"][0]["actions"]
    assert "Microsoft.Web/sites/publish/Action" in actions, "Kudu / OneDeploy with an Entra ID token"
    assert not [a for a in actions if any(bad in a.lower() for bad in KEY_READING_ACTIONS)], actions
    assert role["assignableScopes"] == [deployment.one("Microsoft.Resources/resourceGroups").id]
    assignments = [a for a in deployment.of_type("Microsoft.Authorization/roleAssignments")
                   if a.properties["principalId"] == CI_PRINCIPAL]
    on_sites = {a.scope for a in assignments if a.properties["roleDefinitionId"] == deployment.one(
        "Microsoft.Authorization/roleDefinitions").id}
    assert on_sites == {app(deployment, "api").id, app(deployment, "admin").id}
    blobs = [a for a in assignments if a.scope not in on_sites]
    if plan == "Consumption":
        assert sorted(a.scope.rsplit("/containers/", 1)[-1][:12] for a in blobs) == ["app-package-"] * 2
        assert all("/blobServices/default/containers/" in a.scope for a in blobs), "the package containers only"
    else:
        assert blobs == [], "Flex Consumption deploys through the app's identity"


def test_no_ci_role_without_a_ci_principal():
    assert not mode("flex").of_type("Microsoft.Authorization/roleDefinitions")


def test_website_contributor_appears_nowhere():
    """It lists host and function keys, that is full admin rights."""
    for path in [*INFRA.rglob("*.bicep"), ROOT / "docs" / "deploy.md", ROOT / ".github" / "workflows" / "ci.yml"]:
        text = path.read_text(encoding="utf-8")
        assert WEBSITE_CONTRIBUTOR not in text and '"Website Contributor"' not in text, path
