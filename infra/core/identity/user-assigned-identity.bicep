metadata description = 'User-assigned managed identity of the function app (one identity for Storage, Key Vault and App Insights).'

@description('Identity name.')
param name string

@description('Region.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id (for identity blocks and deployment storage authentication).')
output id string = identity.id

@description('Object (principal) id, for role assignments.')
output principalId string = identity.properties.principalId

@description('Client id, for AZURE_CLIENT_ID and AzureWebJobsStorage__clientId.')
output clientId string = identity.properties.clientId

output name string = identity.name
