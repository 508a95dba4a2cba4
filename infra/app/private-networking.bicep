metadata description = 'Private endpoints and private DNS of the private-networking option: data storage (blob, table), admin storage (blob), Key Vault, the admin app, and Azure Monitor through a private link scope. Zones the hub already has are passed in and reused.'

@description('Region of the endpoints (the virtual network\'s).')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

@description('Suffix of the endpoint and scope names (the deployment\'s resource token).')
param nameSuffix string

@description('Resource id of the private-endpoint subnet.')
param privateEndpointSubnetId string

@description('Resource id of the virtual network the zones created here are linked to.')
param virtualNetworkId string

@description('Existing private DNS zones to use instead of creating them (hub-and-spoke), by key: blob, table, vault, sites, and without existingMonitorPrivateLinkScopeId also monitor, oms, ods, agentsvc. Zones of the hub must already be linked to the virtual network that resolves them.')
param existingPrivateDnsZoneIds object = {}

@description('Resource id of an existing Azure Monitor private link scope to join (one scope per DNS). Empty: one is created with its private endpoint.')
param existingMonitorPrivateLinkScopeId string = ''

@description('Storage account of the gateway tables and the data-plane app\'s host storage.')
param dataStorageAccountId string

@description('Storage account of the admin app\'s host storage.')
param adminStorageAccountId string

@description('Key Vault.')
param keyVaultId string

@description('The admin function app (reachable only through this endpoint).')
param adminAppId string

@description('Application Insights component.')
param applicationInsightsId string

@description('Log Analytics workspace.')
param logAnalyticsWorkspaceId string

// Zone names per sub-resource (learn.microsoft.com, "Azure Private Endpoint private DNS zone values"); storage and
// Key Vault follow the cloud deployed to, the others are the public cloud's (sovereign clouds: pass them in).
var zoneNames = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  vault: 'privatelink.vaultcore${substring(environment().suffixes.keyvaultDns, length('.vault'))}'
  sites: 'privatelink.azurewebsites.net'
  monitor: 'privatelink.monitor.azure.com'
  oms: 'privatelink.oms.opinsights.azure.com'
  ods: 'privatelink.ods.opinsights.azure.com'
  agentsvc: 'privatelink.agentsvc.azure-automation.net'
}
var joinMonitorScope = !empty(existingMonitorPrivateLinkScopeId)
var monitorZoneKeys = [
  'monitor'
  'oms'
  'ods'
  'agentsvc'
]
var zoneKeys = concat([
  'blob'
  'table'
  'vault'
  'sites'
], joinMonitorScope ? [] : monitorZoneKeys)
var zonesToCreate = filter(zoneKeys, key => !contains(existingPrivateDnsZoneIds, key))
var zoneIds = toObject(zoneKeys, key => key, key => contains(existingPrivateDnsZoneIds, key) ? existingPrivateDnsZoneIds[key] : resourceId('Microsoft.Network/privateDnsZones', zoneNames[key]))

module zones '../core/network/private-dns-zone.bicep' = [for key in zonesToCreate: {
  name: 'private-dns-${key}'
  params: {
    name: zoneNames[key]
    virtualNetworkId: virtualNetworkId
    tags: tags
  }
}]

// One endpoint per sub-resource the apps use: blobs (host storage, deployment packages) and tables (gateway data)
// of the data account, blobs of the admin account, the vault. No queue endpoint: nothing uses queues.
var endpoints = [
  {
    name: 'pe-data-blob-${nameSuffix}'
    target: dataStorageAccountId
    groupId: 'blob'
    zones: [
      zoneIds.blob
    ]
  }
  {
    name: 'pe-data-table-${nameSuffix}'
    target: dataStorageAccountId
    groupId: 'table'
    zones: [
      zoneIds.table
    ]
  }
  {
    name: 'pe-admin-blob-${nameSuffix}'
    target: adminStorageAccountId
    groupId: 'blob'
    zones: [
      zoneIds.blob
    ]
  }
  {
    name: 'pe-vault-${nameSuffix}'
    target: keyVaultId
    groupId: 'vault'
    zones: [
      zoneIds.vault
    ]
  }
  {
    name: 'pe-admin-app-${nameSuffix}'
    target: adminAppId
    groupId: 'sites'
    zones: [
      zoneIds.sites
    ]
  }
]

module privateEndpoints '../core/network/private-endpoint.bicep' = [for endpoint in endpoints: {
  name: endpoint.name
  dependsOn: [
    zones
  ]
  params: {
    name: endpoint.name
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    targetResourceId: endpoint.target
    groupId: endpoint.groupId
    privateDnsZoneIds: endpoint.zones
  }
}]

// Azure Monitor: Application Insights ingestion and the workspace over a private link scope. The scope's endpoint
// (group azuremonitor) writes records into the four Azure Monitor zones and the blob zone (learn.microsoft.com,
// "Design your Private Link setup": solution packs are reached through blob.core.windows.net).
// The scope's endpoint registers the Azure Monitor zones and the blob zone.
var monitorEndpointZoneKeys = concat(monitorZoneKeys, [
  'blob'
])
var monitorLinkedIds = [
  applicationInsightsId
  logAnalyticsWorkspaceId
]

module monitorScope '../core/monitor/private-link-scope.bicep' = if (!joinMonitorScope) {
  name: 'monitor-private-link-scope'
  params: {
    name: 'ampls-${nameSuffix}'
    create: true
    tags: tags
    linkedResourceIds: monitorLinkedIds
    // The scope's own network: nothing else resolves through these zones, so only scoped resources are reachable.
    ingestionAccessMode: empty(existingPrivateDnsZoneIds) ? 'PrivateOnly' : 'Open'
  }
}

module joinedMonitorScope '../core/monitor/private-link-scope.bicep' = if (joinMonitorScope) {
  name: 'monitor-private-link-scope-join'
  scope: resourceGroup(split(existingMonitorPrivateLinkScopeId, '/')[2], split(existingMonitorPrivateLinkScopeId, '/')[4])
  params: {
    name: last(split(existingMonitorPrivateLinkScopeId, '/'))
    create: false
    linkedResourceIds: monitorLinkedIds
  }
}

module monitorEndpoint '../core/network/private-endpoint.bicep' = if (!joinMonitorScope) {
  name: 'pe-monitor-${nameSuffix}'
  dependsOn: [
    zones
  ]
  params: {
    name: 'pe-monitor-${nameSuffix}'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    targetResourceId: joinMonitorScope ? '' : monitorScope.outputs.id
    groupId: 'azuremonitor'
    privateDnsZoneIds: [for key in monitorEndpointZoneKeys: zoneIds[key]]
  }
}

output privateDnsZoneIds object = zoneIds
