metadata description = 'Every role assignment of the deployment, in one module. Each is named guid(scope, principal, role) so redeployments are idempotent, and each says which code needs it.'

@description('Object id of the function app identity.')
param principalId string

@description('Storage account (Functions host storage, deployment package, gateway tables).')
param storageAccountName string

@description('Key Vault (client secret verifiers, upstream secrets, signing keys).')
param keyVaultName string

@description('Application Insights component (Entra-authenticated telemetry).')
param applicationInsightsName string

@description('Optional object id of the person or pipeline deploying (azd AZURE_PRINCIPAL_ID): may upload the package blob for the Consumption (Y1) publish path. Empty: none.')
param deployerPrincipalId string = ''

@description('Principal type of deployerPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

// Built-in role definition ids (the same in every subscription).
var roles = {
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  keyVaultCryptoOfficer: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// No queue role: the app has HTTP triggers only, so neither the gateway nor the Functions host uses queues
// (a queue or blob trigger would need Storage Queue Data Contributor).

// Key Vault Secrets Officer: the admin API writes and disables client secret verifiers, upstream secrets and
// signing keys (gateway/stores/keyvault.py); the token and proxy functions read them. Reader roles cannot write.
resource vaultSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}

// Key Vault Crypto Officer: the provider assertion keys of privateKeyJwt routes are Key Vault keys
// (gateway/stores/keyvault_keys.py): the admin API creates and rotates them, the proxy lists their versions and
// signs digests with them (CryptographyClient.sign). Crypto User could sign but not create or rotate. The keys are
// created not exportable, so no role lets the app read a private key.
resource vaultCryptoOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roles.keyVaultCryptoOfficer)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCryptoOfficer)
  }
}

// Storage Table Data Contributor: the routes, clients and audit tables (gateway/stores/tables/), and the
// Functions host's diagnostic events table (AzureWebJobsStorage__tableServiceUri).
resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// Storage Blob Data Owner: identity-based AzureWebJobsStorage (the host's locks, leases and function keys need
// Owner, per the Functions host storage guidance) and reading the deployment package container.
resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

// Monitoring Metrics Publisher: telemetry with Entra ID authentication (APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
// the component refuses key-based ingestion.
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// Storage Blob Data Contributor, optional, for the deployer: uploading the package blob (Consumption plan
// publish path, docs/deploy.md).
resource deployerBlobDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(storage.id, deployerPrincipalId, roles.storageBlobDataContributor)
  scope: storage
  properties: {
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}
