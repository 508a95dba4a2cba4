"""The private-networking option (networkIsolation, Flex Consumption), read from what main.bicep deploys.

Off (the quickstart): no network at all, the stores on public endpoints with Entra ID only. On: the apps join a
subnet delegated to Microsoft.App/environments behind a NAT gateway with one static IP (an output), every store
and Azure Monitor behind private endpoints with their DNS, public access off; the admin app private; the FHIR
and token endpoints still public. Hub-and-spoke reuses the hub's subnets, zones and monitor scope. Linux
Consumption cannot isolate: that combination fails the deployment.
"""

from __future__ import annotations

import pytest

from tests.infra.deployments import (
    HUB_ADMIN_SUBNET,
    HUB_AND_SPOKE,
    HUB_APP_SUBNET,
    HUB_ENDPOINT_SUBNET,
    HUB_MONITOR_SCOPE,
    HUB_ZONES,
    app,
    by_id,
    mode,
    render,
)
from tests.infra.evaluate import DeploymentFailed, Unknown

NETWORK_TYPES = ("Microsoft.Network/virtualNetworks", "Microsoft.Network/natGateways",
                 "Microsoft.Network/publicIPAddresses", "Microsoft.Network/privateEndpoints",
                 "Microsoft.Network/privateDnsZones", "Microsoft.Insights/privateLinkScopes")
ZONE_NAMES = {"privatelink.blob.core.windows.net", "privatelink.table.core.windows.net",
              "privatelink.vaultcore.azure.net", "privatelink.azurewebsites.net", "privatelink.monitor.azure.com",
              "privatelink.oms.opinsights.azure.com", "privatelink.ods.opinsights.azure.com",
              "privatelink.agentsvc.azure-automation.net"}


def stores(deployment):
    return [*deployment.of_type("Microsoft.Storage/storageAccounts"), *deployment.of_type("Microsoft.KeyVault/vaults")]


def endpoints(deployment) -> dict[tuple[str, str], dict]:
    """(target resource name, group id) -> the private endpoint's properties and its DNS zone ids."""
    found = {}
    for endpoint in deployment.of_type("Microsoft.Network/privateEndpoints"):
        connection = endpoint.properties["privateLinkServiceConnections"][0]["properties"]
        target = str(connection["privateLinkServiceId"]).rsplit("/", 1)[-1]
        group = deployment.one("Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
                               lambda r, e=endpoint: r.name.startswith(f"{e.name}/"))
        zones = [c["properties"]["privateDnsZoneId"] for c in group.properties["privateDnsZoneConfigs"]]
        assert (target, *connection["groupIds"]) not in found
        found[(target, connection["groupIds"][0])] = {**endpoint.properties, "zones": zones}
    return found


@pytest.mark.parametrize("name", ["flex", "consumption"])
def test_without_isolation_nothing_of_the_network_is_deployed_and_the_stores_are_public(name):
    deployment = mode(name)
    for resource_type in NETWORK_TYPES:
        assert not deployment.of_type(resource_type), resource_type
    for store in stores(deployment):
        assert store.properties["publicNetworkAccess"] == "Enabled", store
        assert store.properties["networkAcls"]["defaultAction"] == "Allow", store
    for site in deployment.of_type("Microsoft.Web/sites"):
        assert site.properties["virtualNetworkSubnetId"] is None
        assert site.properties["publicNetworkAccess"] == "Enabled"
    assert deployment.outputs["OUTBOUND_IP_ADDRESS"] == ""


def test_storage_keeps_entra_only_access_in_every_mode():
    for deployment in (mode("flex"), mode("flex-isolated"), mode("consumption")):
        for account in deployment.of_type("Microsoft.Storage/storageAccounts"):
            assert account.properties["allowSharedKeyAccess"] is False
            assert account.properties["allowBlobPublicAccess"] is False


def test_isolation_needs_flex_consumption():
    with pytest.raises(DeploymentFailed, match="networkIsolation needs hostingPlan FlexConsumption"):
        render(hostingPlan="Consumption", networkIsolation=True)


def test_each_app_joins_its_own_delegated_subnet_behind_a_nat_gateway_with_one_static_ip():
    deployment = mode("flex-isolated")
    vnet = deployment.one("Microsoft.Network/virtualNetworks")
    subnets = {s["name"]: s["properties"] for s in vnet.properties["subnets"]}
    nat = deployment.one("Microsoft.Network/natGateways")
    for name in ("snet-app", "snet-admin"):
        assert [d["properties"]["serviceName"] for d in subnets[name]["delegations"]] == ["Microsoft.App/environments"]
        assert subnets[name]["natGateway"]["id"] == nat.id
    ip = deployment.one("Microsoft.Network/publicIPAddresses")
    assert nat.properties["publicIpAddresses"] == [{"id": ip.id}]
    assert ip.properties["publicIPAllocationMethod"] == "Static" and ip.body["sku"]["name"] == "Standard"
    assert deployment.outputs["OUTBOUND_IP_ADDRESS"] == Unknown(f"publicIPAddresses:{ip.name}.properties.ipAddress")
    assert "natGateway" not in subnets["snet-private-endpoints"]
    assert subnets["snet-private-endpoints"]["privateEndpointNetworkPolicies"] == "Disabled"
    assert app(deployment, "api").properties["virtualNetworkSubnetId"] == f"{vnet.id}/subnets/snet-app"
    assert app(deployment, "admin").properties["virtualNetworkSubnetId"] == f"{vnet.id}/subnets/snet-admin"


def test_every_store_and_azure_monitor_has_a_private_endpoint_and_no_queue_has_one():
    deployment = mode("flex-isolated")
    found = endpoints(deployment)
    data = app(deployment, "api")
    admin = app(deployment, "admin")
    data_account = deployment.one("Microsoft.Storage/storageAccounts", lambda r: "adm" not in r.name).name
    admin_account = deployment.one("Microsoft.Storage/storageAccounts", lambda r: "adm" in r.name).name
    vault = deployment.one("Microsoft.KeyVault/vaults").name
    scope = deployment.one("Microsoft.Insights/privateLinkScopes").name
    assert set(found) == {(data_account, "blob"), (data_account, "table"), (admin_account, "blob"), (vault, "vault"),
                          (admin.name, "sites"), (scope, "azuremonitor")}
    assert not any(group == "queue" for _, group in found), "nothing uses queues"
    assert (data.name, "sites") not in found, "the data plane stays public"
    subnet = f"{deployment.one('Microsoft.Network/virtualNetworks').id}/subnets/snet-private-endpoints"
    zones = {z.name: z.id for z in deployment.of_type("Microsoft.Network/privateDnsZones")}
    assert set(zones) == ZONE_NAMES
    expected_zones = {"blob": ["privatelink.blob.core.windows.net"], "table": ["privatelink.table.core.windows.net"],
                      "vault": ["privatelink.vaultcore.azure.net"], "sites": ["privatelink.azurewebsites.net"],
                      "azuremonitor": ["privatelink.monitor.azure.com", "privatelink.oms.opinsights.azure.com",
                                       "privatelink.ods.opinsights.azure.com",
                                       "privatelink.agentsvc.azure-automation.net",
                                       "privatelink.blob.core.windows.net"]}
    for (_, group), endpoint in found.items():
        assert endpoint["subnet"]["id"] == subnet
        assert endpoint["zones"] == [zones[name] for name in expected_zones[group]], group
    vnet = deployment.one("Microsoft.Network/virtualNetworks").id
    links = deployment.of_type("Microsoft.Network/privateDnsZones/virtualNetworkLinks")
    assert len(links) == len(ZONE_NAMES)
    assert all(link.properties["virtualNetwork"]["id"] == vnet and not link.properties["registrationEnabled"]
               for link in links)


def test_isolated_stores_refuse_public_networks():
    deployment = mode("flex-isolated")
    for store in stores(deployment):
        assert store.properties["publicNetworkAccess"] == "Disabled", store
        assert store.properties["networkAcls"] == {"defaultAction": "Deny", "bypass": "None"}, store


def test_telemetry_goes_through_the_private_link_scope():
    deployment = mode("flex-isolated")
    scope = deployment.one("Microsoft.Insights/privateLinkScopes")
    assert scope.properties["accessModeSettings"] == {"ingestionAccessMode": "PrivateOnly", "queryAccessMode": "Open"}
    component = deployment.one("Microsoft.Insights/components")
    workspace = deployment.one("Microsoft.OperationalInsights/workspaces")
    scoped = {str(r.properties["linkedResourceId"]) for r in
              deployment.of_type("Microsoft.Insights/privateLinkScopes/scopedResources")}
    assert scoped == {component.id, workspace.id}
    # Public ingestion stays open (Entra ID only) by default so the availability test's results arrive; closing it
    # is a parameter.
    assert component.properties["DisableLocalAuth"] is True
    assert component.properties["publicNetworkAccessForIngestion"] == "Enabled"
    closed = render(networkIsolation=True, applicationInsightsPublicIngestion=False)
    assert closed.one("Microsoft.Insights/components").properties["publicNetworkAccessForIngestion"] == "Disabled"
    assert closed.one("Microsoft.OperationalInsights/workspaces").properties["publicNetworkAccessForIngestion"] == \
        "Disabled"
    assert mode("flex").one("Microsoft.Insights/components").properties["publicNetworkAccessForIngestion"] == "Enabled"


def test_the_admin_app_is_private_and_the_fhir_and_token_endpoints_stay_public():
    deployment = mode("flex-isolated")
    assert app(deployment, "admin").properties["publicNetworkAccess"] == "Disabled"
    assert app(deployment, "api").properties["publicNetworkAccess"] == "Enabled"
    # the availability test keeps probing the public metadata URL
    test = deployment.one("Microsoft.Insights/webtests")
    assert test.properties["Request"]["RequestUrl"] == f"{deployment.outputs['FHIR_BASE_URL']}/metadata"


def test_hub_and_spoke_reuses_the_hubs_subnets_zones_and_monitor_scope():
    deployment = render(**HUB_AND_SPOKE)
    for resource_type in ("Microsoft.Network/virtualNetworks", "Microsoft.Network/natGateways",
                          "Microsoft.Network/publicIPAddresses", "Microsoft.Insights/privateLinkScopes"):
        assert not deployment.of_type(resource_type), resource_type
    assert not deployment.of_type("Microsoft.Network/privateDnsZones"), "every zone comes from the hub"
    assert app(deployment, "api").properties["virtualNetworkSubnetId"] == HUB_APP_SUBNET
    assert app(deployment, "admin").properties["virtualNetworkSubnetId"] == HUB_ADMIN_SUBNET
    found = endpoints(deployment)
    assert {group for _, group in found} == {"blob", "table", "vault", "sites"}
    for (_, group), endpoint in found.items():
        assert endpoint["subnet"]["id"] == HUB_ENDPOINT_SUBNET
        assert endpoint["zones"] == [HUB_ZONES[group]]
    # the apps' monitoring resources join the hub's scope, in the hub's resource group
    scoped = deployment.of_type("Microsoft.Insights/privateLinkScopes/scopedResources")
    assert len(scoped) == 2
    assert all(r.name.startswith("ampls-hub/") and "/resourceGroups/rg-hub/" in r.id for r in scoped)
    assert HUB_MONITOR_SCOPE.rsplit("/", 1)[-1] == "ampls-hub"
    assert deployment.outputs["OUTBOUND_IP_ADDRESS"] == "", "egress is the subnet owner's"


def test_zones_the_hub_lacks_are_created_and_linked_to_the_spoke():
    deployment = render(networkIsolation=True, existingAppSubnetId=HUB_APP_SUBNET,
                        existingAdminAppSubnetId=HUB_ADMIN_SUBNET, existingPrivateEndpointSubnetId=HUB_ENDPOINT_SUBNET,
                        existingPrivateDnsZoneIds={"blob": HUB_ZONES["blob"]})
    created = {z.name for z in deployment.of_type("Microsoft.Network/privateDnsZones")}
    assert created == ZONE_NAMES - {"privatelink.blob.core.windows.net"}
    spoke = HUB_ENDPOINT_SUBNET.split("/subnets/")[0]
    for link in deployment.of_type("Microsoft.Network/privateDnsZones/virtualNetworkLinks"):
        assert link.properties["virtualNetwork"]["id"] == spoke
    scope = deployment.one("Microsoft.Insights/privateLinkScopes")
    assert scope.properties["accessModeSettings"]["ingestionAccessMode"] == "Open", \
        "a scope whose DNS a hub shares must not cut the hub's other networks off Azure Monitor"


def test_existing_subnets_come_together():
    with pytest.raises(DeploymentFailed, match="together"):
        render(networkIsolation=True, existingAppSubnetId=HUB_APP_SUBNET)
    with pytest.raises(DeploymentFailed, match="together"):
        render(networkIsolation=True, existingAppSubnetId=HUB_APP_SUBNET,
               existingPrivateEndpointSubnetId=HUB_ENDPOINT_SUBNET)


def test_private_endpoints_name_real_resources():
    deployment = mode("flex-isolated")
    for endpoint in deployment.of_type("Microsoft.Network/privateEndpoints"):
        target = endpoint.properties["privateLinkServiceConnections"][0]["properties"]["privateLinkServiceId"]
        assert by_id(deployment, target).type in ("Microsoft.Storage/storageAccounts", "Microsoft.KeyVault/vaults",
                                                  "Microsoft.Web/sites", "Microsoft.Insights/privateLinkScopes")
