"""The template creates what the code needs, with the security properties the design asks for.

Who holds which role is tests/infra/test_least_privilege.py; this file checks the template's sources."""

from __future__ import annotations

import re

import pytest

from gateway.stores.tables import TABLE_SUFFIXES, TableNames
from tests.infra.bicep import INFRA, BicepFile, bicep_files


def load(relative: str) -> BicepFile:
    return BicepFile.load(INFRA / relative)


def test_the_template_creates_every_table_the_code_uses():
    main = load("main.bicep")
    assert main.params()["tableNamePrefix"].default == "'gw'"
    table_names = re.search(r"(?ms)^var tableNames = \[(.*?)^\]", main.text).group(1)
    created = set(re.findall(r"'\$\{tableNamePrefix\}(\w+)'", table_names))
    assert created == set(TABLE_SUFFIXES)
    assert set(TableNames.for_prefix("gw").all()) == {f"gw{suffix}" for suffix in created}
    storage = load("core/storage/storage-account.bicep").text
    assert re.search(r"resource table 'tables' = \[for tableName in tables:", storage)
    assert "tables: tableNames" in main.text


def test_role_assignments_live_in_one_module():
    holders = [path.relative_to(INFRA).as_posix() for path in bicep_files()
               if "Microsoft.Authorization/roleAssignments" in BicepFile.load(path).text]
    assert holders == ["app/rbac.bicep"]


def test_no_queue_role_since_nothing_uses_queues():
    """HTTP triggers only: neither the gateway nor the Functions host reads or writes queues."""
    function_folders = [path.parent.name for path in INFRA.parent.glob("*_fn/function.json")]
    assert function_folders, "the function folders"
    for folder in function_folders:
        bindings = (INFRA.parent / folder / "function.json").read_text(encoding="utf-8")
        assert re.findall(r'"type":\s*"(\w+)"', bindings) == ["httpTrigger", "http"], folder
    rbac = load("app/rbac.bicep").code
    assert "974c5e8b-45b9-4653-ba55-5f855dd0fb88" not in load("app/rbac.bicep").text
    assert "Queue" not in rbac


def test_every_role_assignment_says_who_needs_it():
    rbac = load("app/rbac.bicep")
    lines = rbac.source.splitlines()
    for name, _, _ in rbac.resources("Microsoft.Authorization/roleAssignments"):
        declaration = next(i for i, line in enumerate(lines) if line.startswith(f"resource {name} "))
        comment = []
        for line in reversed(lines[:declaration]):
            if not line.startswith("//"):
                break
            comment.append(line)
        assert len(" ".join(comment).split()) >= 8, f"role assignment {name} needs a comment justifying it"


def test_storage_account_is_identity_only_and_private():
    text = load("core/storage/storage-account.bicep").text
    assert "allowSharedKeyAccess: false" in text
    assert "allowBlobPublicAccess: false" in text
    assert "minimumTlsVersion: 'TLS1_2'" in text
    assert "supportsHttpsTrafficOnly: true" in text
    main = load("main.bicep").text
    assert "containers: [deploymentContainerName]" in main, "the Flex deployment container"


def test_key_vault_uses_rbac_soft_delete_and_purge_protection_by_default():
    vault = load("core/security/keyvault.bicep")
    text = vault.text
    assert "enableRbacAuthorization: true" in text
    assert "enableSoftDelete: true" in text
    assert re.search(r"sku: \{\s*family: 'A'\s*name: 'standard'\s*\}", text)
    assert "enablePurgeProtection: enablePurgeProtection ? true : null" in text
    assert load("main.bicep").params()["enablePurgeProtection"].default == "true"


def test_function_app_is_linux_python_313_https_tls12_ftp_off():
    host = load("core/host/functions.bicep")
    text = host.text
    assert "kind: 'functionapp,linux'" in text
    assert "httpsOnly: true" in text
    assert "minTlsVersion: '1.2'" in text
    assert "ftpsState: 'Disabled'" in text
    assert re.search(r"runtime: \{\s*name: 'python'\s*version: pythonVersion", text)
    assert re.search(r"param pythonVersion string = '3.13'", text)
    assert host.param_decorators()["pythonVersion"] == {"allowed": ["3.13"]}


def test_consumption_runs_the_last_python_it_offers():
    """Linux Consumption (Y1) offers no Python after 3.12; Flex Consumption runs 3.13."""
    text = load("core/host/functions.bicep").text
    assert "var consumptionPythonVersion = '3.12'" in text
    assert "linuxFxVersion: isFlex ? null : 'Python|${consumptionPythonVersion}'" in text


def test_flex_consumption_is_the_default_and_consumption_a_choice():
    main = load("main.bicep")
    assert main.params()["hostingPlan"].default == "'FlexConsumption'"
    plan = load("core/host/appserviceplan.bicep").text
    assert "name: 'FC1'" in plan and "name: 'Y1'" in plan
    assert "reserved: true" in plan


def test_app_runs_as_the_user_assigned_identity():
    text = load("core/host/functions.bicep").text
    assert re.search(r"identity: \{\s*type: 'UserAssigned'", text)
    assert "userAssignedIdentityResourceId: identityId" in text, "Flex deployment storage read with the identity"


def test_application_insights_is_workspace_based_without_local_auth():
    text = load("core/monitor/monitoring.bicep").text
    assert "WorkspaceResourceId: workspaceId" in text
    assert "var workspaceId = createWorkspace ? workspace.id : existingLogAnalyticsWorkspaceId" in text
    assert "var createWorkspace = empty(existingLogAnalyticsWorkspaceId)" in text
    assert "resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = if (createWorkspace)" in text
    assert "DisableLocalAuth: true" in text


def test_admin_auth_lets_anonymous_requests_through_to_fhir_and_token_routes():
    text = load("app/auth.bicep").text
    assert "name: 'authsettingsV2'" in text
    assert "unauthenticatedClientAction: 'AllowAnonymous'" in text
    assert "requireAuthentication: false" in text
    for path in ("'/fhir'", "'/fhir/*'", "'/oauth2/*'"):
        assert path in text
    main = load("main.bicep").text
    assert "module adminAuth 'app/auth.bicep' = if (enableAdminEasyAuth)" in main


@pytest.mark.parametrize("output", ["AZURE_FUNCTION_APP_NAME", "FHIR_BASE_URL", "TOKEN_URL", "AZURE_KEY_VAULT_URI",
                                    "APPLICATIONINSIGHTS_CONNECTION_STRING", "PUBLIC_BASE_URL"])
def test_main_outputs(output):
    assert re.search(rf"(?m)^output {output} string = ", load("main.bicep").text)


def test_advertised_urls_follow_the_public_base_url():
    text = load("main.bicep").text
    assert "output FHIR_BASE_URL string = '${baseUrl}/fhir'" in text
    assert "output TOKEN_URL string = '${baseUrl}/oauth2/token'" in text
    assert "'https://${customDomainName}'" in text
    assert "'https://${appName}.azurewebsites.net'" in text


def test_names_default_from_a_resource_token():
    text = load("main.bicep").text
    assert "var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))" in text
    main = load("main.bicep")
    for name in ("functionAppName", "adminFunctionAppName", "storageAccountName", "adminStorageAccountName",
                 "keyVaultName", "appServicePlanName", "adminAppServicePlanName", "logAnalyticsName",
                 "applicationInsightsName", "userAssignedIdentityName", "adminIdentityName", "resourceGroupName"):
        assert main.params()[name].default == "''", f"{name} must be overridable and default from the token"
