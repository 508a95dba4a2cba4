"""Least privilege, from what main.bicep deploys: two apps, two identities, and each role on the narrowest scope.

The data plane (metadata, token, proxy) reads secrets, signs with provider keys and touches only the tables its
code uses; only the admin identity writes secrets, keys, routes, clients and audit. Each app runs as its own
identity (AZURE_CLIENT_ID, host storage), its own package on its own storage account. docs/security.md lists the
same grants, each with its reason.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from gateway.stores.tables import TableNames
from tests.infra.bicep import ROOT
from tests.infra.deployments import CI_PRINCIPAL, DEPLOYER, app, app_settings, by_id, mode, render
from tests.infra.evaluate import to_string

ROLES = {
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "12338af0-0e69-4776-bea7-57ae8d297424": "Key Vault Crypto User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "14b46e9e-c2b7-41b4-b07b-48a6ebf60603": "Key Vault Crypto Officer",
    "76199698-9eea-4c19-bc75-cec21354c6b6": "Storage Table Data Reader",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
WEBSITE_CONTRIBUTOR = "de139f84-1756-47ae-9be6-808fbbe84772"
TABLES = TableNames.for_prefix("gw")
SECURITY_DOC = ROOT / "docs" / "security.md"


def scope_label(deployment, scope: str) -> str:
    """A readable name of a role assignment's scope: vault, data account, table gwroutes, ..."""
    resource = by_id(deployment, scope)
    kind = resource.type.rsplit("/", 1)[-1]
    if kind == "storageAccounts":
        return "admin storage account" if "adm" in resource.name else "data storage account"
    if kind == "tables":
        return f"table {resource.name.rsplit('/', 1)[-1]}"
    if kind == "containers":
        return f"{'admin' if 'adm' in resource.name else 'data'} package container"
    if kind == "sites":
        return f"{'admin' if 'gwadm' in resource.name else 'data-plane'} app"
    return {"vaults": "key vault", "components": "application insights"}[kind]


def grants(deployment) -> dict[str, set[tuple[str, str]]]:
    """principal -> {(role, scope)} of every role assignment."""
    found: dict[str, set[tuple[str, str]]] = {}
    custom = {r.id: r.properties["roleName"] for r in deployment.of_type("Microsoft.Authorization/roleDefinitions")}
    for assignment in deployment.of_type("Microsoft.Authorization/roleAssignments"):
        role_id = str(assignment.properties["roleDefinitionId"])
        role = custom.get(role_id) or ROLES[role_id.rsplit("/", 1)[-1]]
        principal = str(assignment.properties["principalId"])
        principal = ("data plane" if ":id-gw-" in principal else "admin" if ":id-gwadm-" in principal
                     else {CI_PRINCIPAL: "ci", DEPLOYER: "deployer"}[principal])
        role = re.sub(r" [a-z0-9]{13}$", "", role)  # a custom role's name ends with its resource group's hash
        found.setdefault(principal, set()).add((role, scope_label(deployment, assignment.scope)))
    return found


DATA_PLANE = {
    ("Key Vault Secrets User", "key vault"),
    ("Key Vault Crypto User", "key vault"),
    ("Storage Table Data Reader", f"table {TABLES.routes}"),
    ("Storage Table Data Reader", f"table {TABLES.clients}"),
    ("Storage Table Data Contributor", f"table {TABLES.failures}"),
    ("Storage Table Data Contributor", f"table {TABLES.replay}"),
    ("Storage Blob Data Owner", "data storage account"),
    ("Monitoring Metrics Publisher", "application insights"),
}
ADMIN = {
    ("Key Vault Secrets Officer", "key vault"),
    ("Key Vault Crypto Officer", "key vault"),
    ("Storage Table Data Contributor", f"table {TABLES.routes}"),
    ("Storage Table Data Contributor", f"table {TABLES.clients}"),
    ("Storage Table Data Contributor", f"table {TABLES.audit}"),
    ("Storage Blob Data Owner", "admin storage account"),
    ("Monitoring Metrics Publisher", "application insights"),
}


@pytest.mark.parametrize("name", ["flex", "flex-isolated", "consumption"])
def test_each_identity_holds_exactly_the_roles_its_code_needs(name):
    found = grants(mode(name))
    assert found == {"data plane": DATA_PLANE, "admin": ADMIN}


def test_only_the_admin_identity_can_write_secrets_keys_routes_clients_or_audit():
    data_plane = {role for role, _ in DATA_PLANE}
    assert not {"Key Vault Secrets Officer", "Key Vault Crypto Officer"} & data_plane
    assert not [scope for role, scope in DATA_PLANE if "Contributor" in role and scope in (
        f"table {TABLES.routes}", f"table {TABLES.clients}", f"table {TABLES.audit}")]
    assert not [scope for _, scope in DATA_PLANE if scope in ("admin storage account", f"table {TABLES.audit}")]
    assert not [scope for _, scope in ADMIN if scope == "data storage account"], \
        "the data account holds the data plane's host keys and package"


def test_each_app_runs_as_its_own_identity():
    deployment = mode("flex")
    for service, identity in (("api", "id-gw-"), ("admin", "id-gwadm-")):
        settings = app_settings(deployment, service)
        for key in ("AZURE_CLIENT_ID", "AzureWebJobsStorage__clientId"):
            assert f":{identity}" in str(settings[key]), (service, key)
        assert f":{identity}" in settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
        site = app(deployment, service)
        assert list(site.body["identity"]["userAssignedIdentities"]) == [
            by_id(deployment, next(iter(site.body["identity"]["userAssignedIdentities"]))).id]
        assert identity in next(iter(site.body["identity"]["userAssignedIdentities"]))
        storage = by_id(deployment, site.properties["functionAppConfig"]["deployment"]["storage"]["authentication"][
            "userAssignedIdentityResourceId"])
        assert identity in storage.name


def test_each_app_reads_its_package_and_host_storage_from_its_own_account():
    deployment = mode("flex")
    for service, account in (("api", "st"), ("admin", "stadm")):
        settings = app_settings(deployment, service)
        blob = str(settings["AzureWebJobsStorage__blobServiceUri"])
        package = app(deployment, service).properties["functionAppConfig"]["deployment"]["storage"]["value"]
        assert re.search(rf"storageAccounts:{account}[a-z0-9]{{13}}\.properties", blob), blob
        assert blob.split(".properties")[0] in package, "the package container is on the same account"
    consumption = mode("consumption")
    for service, account in (("api", "st"), ("admin", "stadm")):
        settings = app_settings(consumption, service)
        assert re.search(rf"storageAccounts:{account}[a-z0-9]{{13}}\.", settings["WEBSITE_RUN_FROM_PACKAGE"])


def test_the_host_needs_no_queue_or_table_of_its_own():
    """HTTP triggers only: AzureWebJobsStorage uses blobs (Azure-Samples/functions-quickstart-python-http-azd)."""
    for service in ("api", "admin"):
        settings = app_settings(mode("flex"), service)
        assert {k for k in settings if k.startswith("AzureWebJobsStorage")} == {
            "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId", "AzureWebJobsStorage__blobServiceUri"}


def test_the_deployer_gets_package_roles_only_on_consumption_and_only_on_the_containers():
    assert "deployer" not in grants(render(principalId=DEPLOYER))
    assert grants(render(principalId=DEPLOYER, hostingPlan="Consumption"))["deployer"] == {
        ("Storage Blob Data Contributor", "data package container"),
        ("Storage Blob Data Contributor", "admin package container")}


def test_assignment_names_are_guid_of_scope_principal_and_role():
    deployment = render(ciPrincipalId=CI_PRINCIPAL, principalId=DEPLOYER, hostingPlan="Consumption")
    for assignment in deployment.of_type("Microsoft.Authorization/roleAssignments"):
        role = str(assignment.properties["roleDefinitionId"])
        role = role.rsplit("/", 1)[-1] if role.rsplit("/", 1)[-1] in ROLES else role
        expected = uuid.uuid5(uuid.NAMESPACE_URL, "|".join(
            to_string(x) for x in (assignment.scope, assignment.properties["principalId"], role)))
        assert assignment.name == str(expected), assignment


def documented_grants() -> dict[str, set[tuple[str, str]]]:
    """The role table of docs/security.md: | Identity | Role | Scope | Why |."""
    section = SECURITY_DOC.read_text(encoding="utf-8").split("## Identities and roles", 1)[1].split("\n## ", 1)[0]
    found: dict[str, set[tuple[str, str]]] = {}
    for identity, role, scope, why in re.findall(r"(?m)^\| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|$", section):
        if identity.strip() in ("Identity", "---") or set(identity) <= {"-", " "}:
            continue
        assert len(why.split()) >= 6, f"{identity} / {role}: say why"
        scope = scope.replace("`", "")
        found.setdefault(identity.strip(), set()).add((role.strip(), scope.strip()))
    return found


def test_the_security_doc_justifies_every_grant_and_no_other():
    documented = documented_grants()
    deployed = grants(render(ciPrincipalId=CI_PRINCIPAL, principalId=DEPLOYER, hostingPlan="Consumption"))
    assert documented["data plane"] == deployed["data plane"]
    assert documented["admin"] == deployed["admin"]
    assert documented["deployer (Consumption only)"] == deployed["deployer"]
    assert documented["CI principal"] == deployed["ci"]
    assert Path(SECURITY_DOC).read_text(encoding="utf-8").count(WEBSITE_CONTRIBUTOR) == 0
