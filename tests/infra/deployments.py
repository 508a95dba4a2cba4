"""What infra/main.bicep deploys in each mode the tests cover (evaluated by tests/infra/evaluate.py, cached).

Modes: both hosting plans, with and without networkIsolation (Consumption cannot isolate: that combination
must fail), and the hub-and-spoke variant that joins existing subnets, DNS zones and a monitor scope.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from tests.infra.bicep import INFRA
from tests.infra.evaluate import Deployment, Resource, deploy

ADMIN_APP_ID = "6e3b1c2a-8d4f-4c1e-9a57-0d5b2f7e9c11"
CI_PRINCIPAL = "7a1b2c3d-0000-4000-8000-00000000c1c1"
DEPLOYER = "8b2c3d4e-0000-4000-8000-0000000de910"
HUB_SUBSCRIPTION = "22222222-0000-4000-8000-000000000hub"
HUB = f"/subscriptions/{HUB_SUBSCRIPTION}/resourceGroups/rg-hub/providers"
HUB_APP_SUBNET = f"{HUB}/Microsoft.Network/virtualNetworks/vnet-spoke/subnets/snet-functions"
HUB_ADMIN_SUBNET = f"{HUB}/Microsoft.Network/virtualNetworks/vnet-spoke/subnets/snet-functions-admin"
HUB_ENDPOINT_SUBNET = f"{HUB}/Microsoft.Network/virtualNetworks/vnet-spoke/subnets/snet-endpoints"
HUB_ZONES = {key: f"{HUB}/Microsoft.Network/privateDnsZones/{name}" for key, name in {
    "blob": "privatelink.blob.core.windows.net", "table": "privatelink.table.core.windows.net",
    "vault": "privatelink.vaultcore.azure.net", "sites": "privatelink.azurewebsites.net"}.items()}
HUB_MONITOR_SCOPE = f"{HUB}/Microsoft.Insights/privateLinkScopes/ampls-hub"

BASE: dict[str, Any] = {
    "environmentName": "prod",
    "location": "westeurope",
    "alertEmailAddresses": "oncall@hospital.example, security@hospital.example",
    "adminAuthClientId": ADMIN_APP_ID,
}
MODES: dict[str, dict[str, Any]] = {
    "flex": {},
    "flex-isolated": {"networkIsolation": True},
    "consumption": {"hostingPlan": "Consumption"},
}
HUB_AND_SPOKE: dict[str, Any] = {
    "networkIsolation": True, "existingAppSubnetId": HUB_APP_SUBNET, "existingAdminAppSubnetId": HUB_ADMIN_SUBNET,
    "existingPrivateEndpointSubnetId": HUB_ENDPOINT_SUBNET,
    "existingPrivateDnsZoneIds": HUB_ZONES, "existingMonitorPrivateLinkScopeId": HUB_MONITOR_SCOPE,
}


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and all(isinstance(i, tuple) and len(i) == 2 and isinstance(i[0], str) for i in value) \
            and value:
        return {k: _thaw(v) for k, v in value}
    return value


@lru_cache(maxsize=64)
def _render(frozen: tuple[tuple[str, Any], ...]) -> Deployment:
    return deploy(INFRA / "main.bicep", {k: _thaw(v) for k, v in frozen})


def render(*, base: dict[str, Any] | None = None, **params: Any) -> Deployment:
    """main.bicep deployed with BASE (or ``base``) and ``params``."""
    return _render(_freeze({**(BASE if base is None else base), **params}))


def mode(name: str) -> Deployment:
    return render(**MODES[name])


def app(deployment: Deployment, service: str) -> Resource:
    """The function app of azd service ``api`` (data plane) or ``admin``."""
    return deployment.one("Microsoft.Web/sites", lambda r: r.body["tags"].get("azd-service-name") == service)


def app_settings(deployment: Deployment, service: str) -> dict[str, Any]:
    site = app(deployment, service)
    return deployment.one("Microsoft.Web/sites/config", lambda r: r.name == f"{site.name}/appsettings").properties


def by_id(deployment: Deployment, resource_id: Any) -> Resource:
    return next(r for r in deployment.all_resources() if r.id == str(resource_id))
