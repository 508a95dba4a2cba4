metadata description = 'Storage account reached only with Entra ID (no shared keys): the Functions host storage, the Flex deployment container and the gateway tables.'

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

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
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
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
