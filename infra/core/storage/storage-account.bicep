metadata description = 'Storage account reached only with Entra ID (no shared keys): the Functions host storage, the Flex deployment container and, on the data account, the gateway tables. With isolated, reachable only through private endpoints.'

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Region.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

@description('Blob containers to create (the Flex Consumption deployment container).')
param containers array = []

@description('Tables to create (the gateway routes, clients, audit and failure counter tables).')
param tables array = []

@description('Standard_LRS, or Standard_ZRS for a zone-redundant Flex Consumption app (learn.microsoft.com, "Reliability in Azure Functions": a zone-redundant app needs a ZRS host storage account). An existing account cannot change between the two by redeploying.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param skuName string = 'Standard_LRS'

@description('Private networking: public network access disabled and the firewall denies everything; the account is reached through private endpoints only (created by app/private-networking.bicep).')
param isolated bool = false

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Isolated as in the azd Functions quickstart's VNet variant (Azure-Samples/functions-quickstart-python-http-azd,
    // vnetEnabled): public access off, deny by default, no trusted-service bypass.
    publicNetworkAccess: isolated ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: isolated ? 'Deny' : 'Allow'
      bypass: isolated ? 'None' : 'AzureServices'
    }
  }

  resource blobService 'blobServices' = {
    name: 'default'
    resource container 'containers' = [for containerName in containers: {
      name: containerName
      properties: {
        publicAccess: 'None'
      }
    }]
  }

  resource tableService 'tableServices' = {
    name: 'default'
    resource table 'tables' = [for tableName in tables: {
      name: tableName
    }]
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output tableEndpoint string = account.properties.primaryEndpoints.table
