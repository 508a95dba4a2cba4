"""Scale and durability settings, from what main.bicep deploys, and the CI publish path per plan.

- Flex Consumption: per-instance HTTP concurrency (measured, docs/operations.md "Scale"), always-ready
  instances as a parameter, the platform's maximum-instance bounds (40-1000), zone redundancy with ZRS storage.
- The basic-publishing-credential policies carry a location (the resource provider refuses them without).
- The workflow publishes Flex apps with Core Tools and Consumption apps through the package blob.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.infra.bicep import INFRA, ROOT, BicepFile
from tests.infra.deployments import app, app_settings, mode, render
from tests.infra.evaluate import DeploymentFailed

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
OPERATIONS = ROOT / "docs" / "operations.md"


def scale(deployment, service: str) -> dict:
    return app(deployment, service).properties["functionAppConfig"]["scaleAndConcurrency"]


def documented_concurrency() -> int:
    """The value docs/operations.md chose from the load bench."""
    match = re.search(r"httpPerInstanceConcurrency` (?:is|=) \*\*(\d+)\*\*", OPERATIONS.read_text(encoding="utf-8"))
    assert match, "docs/operations.md states the chosen httpPerInstanceConcurrency"
    return int(match.group(1))


@pytest.mark.parametrize("name", ["flex", "flex-isolated"])
def test_both_flex_apps_take_the_measured_http_concurrency(name):
    deployment = mode(name)
    chosen = documented_concurrency()
    assert BicepFile.load(INFRA / "main.bicep").params()["httpPerInstanceConcurrency"].default == str(chosen)
    for service in ("api", "admin"):
        assert scale(deployment, service)["triggers"] == {"http": {"perInstanceConcurrency": chosen}}
    assert scale(render(httpPerInstanceConcurrency=16), "api")["triggers"]["http"]["perInstanceConcurrency"] == 16


def test_always_ready_instances_are_a_parameter_of_the_data_plane_only():
    assert scale(mode("flex"), "api")["alwaysReady"] == [], "default: scale to zero"
    deployment = render(alwaysReadyInstances=2)
    assert scale(deployment, "api")["alwaysReady"] == [{"name": "http", "instanceCount": 2}]
    assert scale(deployment, "admin")["alwaysReady"] == []


def test_maximum_instance_count_has_flex_consumptions_bounds():
    assert scale(mode("flex"), "api")["maximumInstanceCount"] == 100
    assert scale(mode("flex"), "admin")["maximumInstanceCount"] == 40, "the platform's lowest maximum"
    assert scale(render(maximumInstanceCount=1000), "api")["maximumInstanceCount"] == 1000
    for refused in (39, 1001):
        with pytest.raises(DeploymentFailed, match="maximumInstanceCount"):
            render(maximumInstanceCount=refused)


def test_zone_redundancy_makes_the_plans_zone_redundant_and_the_storage_zrs():
    deployment = render(zoneRedundant=True)
    assert [p.properties["zoneRedundant"] for p in deployment.of_type("Microsoft.Web/serverfarms")] == [True, True]
    assert {a.body["sku"]["name"] for a in deployment.of_type("Microsoft.Storage/storageAccounts")} == {"Standard_ZRS"}
    plain = mode("flex")
    assert [p.properties["zoneRedundant"] for p in plain.of_type("Microsoft.Web/serverfarms")] == [False, False]
    assert {a.body["sku"]["name"] for a in plain.of_type("Microsoft.Storage/storageAccounts")} == {"Standard_LRS"}
    assert scale(render(zoneRedundant=True, alwaysReadyInstances=2), "api")["alwaysReady"][0]["instanceCount"] == 2


@pytest.mark.parametrize(("params", "message"), [
    ({"zoneRedundant": True, "hostingPlan": "Consumption"}, "zoneRedundant needs hostingPlan FlexConsumption"),
    ({"zoneRedundant": True, "alwaysReadyInstances": 1}, "0 or at least 2"),
])
def test_zone_redundancy_combinations_azure_refuses_fail_the_deployment(params, message):
    with pytest.raises(DeploymentFailed, match=message):
        render(**params)


def test_consumption_apps_have_no_flex_configuration_and_run_from_their_package_blob():
    deployment = mode("consumption")
    for service in ("api", "admin"):
        site = app(deployment, service)
        assert site.properties["functionAppConfig"] is None
        assert site.properties["siteConfig"]["linuxFxVersion"] == "Python|3.12"
        settings = app_settings(deployment, service)
        assert settings["WEBSITE_RUN_FROM_PACKAGE"].endswith("/released-package.zip")


@pytest.mark.parametrize("name", ["flex", "flex-isolated", "consumption"])
def test_basic_publishing_credentials_are_off_with_a_location(name):
    deployment = mode(name)
    policies = deployment.of_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert sorted(p.name.rsplit("/", 1)[-1] for p in policies) == ["ftp", "ftp", "scm", "scm"]
    for policy in policies:
        assert policy.properties == {"allow": False}
        assert policy.body["location"] == "westeurope", "Azure/bicep-types-az#1527"


# ---------------------------------------------------------------- the CI publish path per plan
def deploy_steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["deploy"]["steps"]


def test_the_ci_publish_step_is_guarded_by_plan():
    steps = {step.get("name", ""): step for step in deploy_steps()}
    flex = next(step for name, step in steps.items() if "Flex Consumption" in name)
    consumption = next(step for name, step in steps.items() if name.endswith("(Consumption, package blob)"))
    assert flex["if"] == "vars.AZURE_HOSTING_PLAN != 'Consumption'"
    assert consumption["if"] == "vars.AZURE_HOSTING_PLAN == 'Consumption'"
    assert flex["run"].count("func azure functionapp publish") == 2, "both apps"
    assert "func azure functionapp publish" not in consumption["run"], \
        "Core Tools would replace WEBSITE_RUN_FROM_PACKAGE on Consumption"
    assert consumption["run"].count("az storage blob upload --auth-mode login") == 2
    assert consumption["run"].count("az functionapp restart") == 2
    assert "--python-version 3.12" in consumption["run"], "Linux Consumption runs Python 3.12"


def test_the_workflow_variables_are_outputs_of_the_deployment():
    outputs = mode("consumption").outputs
    used = set(re.findall(r"vars\.(AZURE_\w+)", WORKFLOW.read_text(encoding="utf-8")))
    login = {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID"}  # the CI app registration's
    assert used - login <= set(outputs), sorted(used - login - set(outputs))
    assert outputs["AZURE_HOSTING_PLAN"] == "Consumption"
