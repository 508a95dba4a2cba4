metadata description = 'Every role assignment of the deployment, in one module, least privilege per identity: the data-plane identity (token, metadata, proxy) reads secrets, signs with keys and touches only the tables it needs; the admin identity alone writes secrets, keys, routes, clients and audit; the CI principal publishes code and cannot read keys. Each assignment is named guid(scope, principal, role) and says which code needs it (docs/security.md, role table).'

@description('Object id of the data-plane app\'s identity (metadata_fn, token_fn, fhir_proxy_fn).')
param dataPrincipalId string

@description('Object id of the admin app\'s identity (admin_fn).')
param adminPrincipalId string

@description('Storage account holding the gateway tables and the data-plane app\'s host storage and package.')
param dataStorageAccountName string

@description('Storage account holding the admin app\'s host storage and package.')
param adminStorageAccountName string

@description('Gateway table names: routes, clients, audit, failures, replay (gateway/stores/tables/names.py).')
param tableNames object

@description('Deployment package container of the data-plane app (on dataStorageAccountName).')
param dataDeploymentContainerName string

@description('Deployment package container of the admin app (on adminStorageAccountName).')
param adminDeploymentContainerName string

@description('Key Vault (client secret verifiers, upstream secrets, signing keys, provider assertion keys).')
param keyVaultName string

@description('Application Insights component (Entra-authenticated telemetry).')
param applicationInsightsName string

@description('Data-plane function app name.')
param dataAppName string

@description('Admin function app name.')
param adminAppName string

@description('FlexConsumption or Consumption: the package blobs are uploaded by hand (and need a data role) only on Consumption.')
param hostingPlan string

@description('Optional object id of the person deploying (azd AZURE_PRINCIPAL_ID). Consumption (Y1) only: may upload the package blobs. Empty: none.')
param deployerPrincipalId string = ''

@description('Principal type of deployerPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

@description('Optional object id of the CI service principal that publishes code (GitHub Actions, OIDC). Empty: none.')
param ciPrincipalId string = ''

// Built-in role definition ids (the same in every subscription; learn.microsoft.com, "Azure built-in roles").
var roles = {
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  keyVaultCryptoOfficer: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603'
  storageTableDataReader: '76199698-9eea-4c19-bc75-cec21354c6b6'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

var isConsumption = hostingPlan == 'Consumption'
var uploadsPackages = isConsumption && !empty(deployerPrincipalId)
var ciUploadsPackages = isConsumption && !empty(ciPrincipalId)

resource dataStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: dataStorageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource dataPackages 'containers' existing = {
      name: dataDeploymentContainerName
    }
  }

  resource tableService 'tableServices' existing = {
    name: 'default'

    resource routesTable 'tables' existing = {
      name: tableNames.routes
    }

    resource clientsTable 'tables' existing = {
      name: tableNames.clients
    }

    resource auditTable 'tables' existing = {
      name: tableNames.audit
    }

    resource failuresTable 'tables' existing = {
      name: tableNames.failures
    }

    resource replayTable 'tables' existing = {
      name: tableNames.replay
    }
  }
}

resource adminStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: adminStorageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource adminPackages 'containers' existing = {
      name: adminDeploymentContainerName
    }
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource dataApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: dataAppName
}

resource adminApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: adminAppName
}

// ---------------------------------------------------------------- data-plane identity (token, metadata, proxy)

// Key Vault Secrets User: the token endpoint reads client secret verifiers and the signing keys
// (gateway/tokens/keyring.py lists and gets them), the proxy reads routes' upstream client secrets. It never
// writes a secret: the first signing key is created by the admin app.
resource dataSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, dataPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// Key Vault Crypto User: the proxy lists the versions of a privateKeyJwt route's provider assertion key and signs
// digests with it (CryptographyClient.sign, gateway/stores/keyvault_keys.py). The keys are created not exportable with
// key_ops sign and verify only, so this role can do nothing else with them; creating and rotating is the admin's.
resource dataCryptoUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, dataPrincipalId, roles.keyVaultCryptoUser)
  scope: vault
  properties: {
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCryptoUser)
  }
}

// Storage Table Data Reader on the routes table: the proxy reads the route of a token's tenant.
resource dataRoutesReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage::tableService::routesTable.id, dataPrincipalId, roles.storageTableDataReader)
  scope: dataStorage::tableService::routesTable
  properties: {
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataReader)
  }
}

// Storage Table Data Reader on the clients table: the token endpoint authenticates clients (and lists their ids,
// gateway/oauth/known_clients.py); the proxy checks that the token's client is still enabled.
resource dataClientsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage::tableService::clientsTable.id, dataPrincipalId, roles.storageTableDataReader)
  scope: dataStorage::tableService::clientsTable
  properties: {
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataReader)
  }
}

// Storage Table Data Contributor on the failure counter table: the token endpoint counts failed authentications
// shared by every instance and purges expired counters (gateway/oauth/rate_limit.py, gateway/housekeeping.py).
resource dataFailuresContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage::tableService::failuresTable.id, dataPrincipalId, roles.storageTableDataContributor)
  scope: dataStorage::tableService::failuresTable
  properties: {
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// Storage Table Data Contributor on the replay table: the token endpoint records each client assertion's jti once
// and purges expired ones (gateway/stores/tables/replay.py, gateway/housekeeping.py).
resource dataReplayContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage::tableService::replayTable.id, dataPrincipalId, roles.storageTableDataContributor)
  scope: dataStorage::tableService::replayTable
  properties: {
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// Storage Blob Data Owner on the data account: identity-based AzureWebJobsStorage of the data-plane app (the host's
// locks, leases and keys need Owner, as in the azd Functions quickstart's rbac.bicep) and reading its package. The
// account holds no other app's blobs, so this reaches neither the admin app's keys nor its package.
resource dataBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage.id, dataPrincipalId, roles.storageBlobDataOwner)
  scope: dataStorage
  properties: {
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

// Monitoring Metrics Publisher: telemetry with Entra ID authentication (APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
// the component refuses key-based ingestion.
resource dataMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, dataPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: dataPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// ---------------------------------------------------------------- admin identity (admin_fn)

// Key Vault Secrets Officer: the admin API writes, disables and deletes client secret verifiers and upstream
// secrets, and creates and rotates the signing keys (gateway/admin/, gateway/stores/keyvault.py).
resource adminSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, adminPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    principalId: adminPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}

// Key Vault Crypto Officer: the admin API creates and rotates the provider assertion keys of privateKeyJwt routes
// (not exportable, sign and verify only) and publishes their public parts (gateway/admin/provider_keys.py).
resource adminCryptoOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, adminPrincipalId, roles.keyVaultCryptoOfficer)
  scope: vault
  properties: {
    principalId: adminPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCryptoOfficer)
  }
}

// Storage Table Data Contributor on the routes table: the admin API creates, changes and deletes tenant routes.
resource adminRoutesContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage::tableService::routesTable.id, adminPrincipalId, roles.storageTableDataContributor)
  scope: dataStorage::tableService::routesTable
  properties: {
    principalId: adminPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// Storage Table Data Contributor on the clients table: the admin API creates clients, records their secrets'
// metadata, enables and disables them.
resource adminClientsContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage::tableService::clientsTable.id, adminPrincipalId, roles.storageTableDataContributor)
  scope: dataStorage::tableService::clientsTable
  properties: {
    principalId: adminPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// Storage Table Data Contributor on the audit table: the admin API appends an audit record for every change and
// refused sign-in, and lists them (GET /manage/audit). Nothing else reads or writes it.
resource adminAuditContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataStorage::tableService::auditTable.id, adminPrincipalId, roles.storageTableDataContributor)
  scope: dataStorage::tableService::auditTable
  properties: {
    principalId: adminPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// Storage Blob Data Owner on the admin account: identity-based AzureWebJobsStorage of the admin app (host locks,
// leases, keys) and reading its package; the account holds only the admin app's blobs.
resource adminBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(adminStorage.id, adminPrincipalId, roles.storageBlobDataOwner)
  scope: adminStorage
  properties: {
    principalId: adminPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

// Monitoring Metrics Publisher: the admin app's telemetry with Entra ID authentication, like the data plane's.
resource adminMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, adminPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: adminPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// ---------------------------------------------------------------- people and pipelines that deploy

// Storage Blob Data Contributor on the data-plane package container, Consumption (Y1) only, for the person deploying:
// the Y1 publish path uploads released-package.zip by hand (docs/deploy.md). Flex Consumption deploys through the
// app's own identity and needs no data role.
resource deployerDataPackages 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (uploadsPackages) {
  name: guid(dataStorage::blobService::dataPackages.id, deployerPrincipalId, roles.storageBlobDataContributor)
  scope: dataStorage::blobService::dataPackages
  properties: {
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

// Storage Blob Data Contributor on the admin package container, Consumption (Y1) only, for the person deploying:
// the same package uploaded for the admin app.
resource deployerAdminPackages 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (uploadsPackages) {
  name: guid(adminStorage::blobService::adminPackages.id, deployerPrincipalId, roles.storageBlobDataContributor)
  scope: adminStorage::blobService::adminPackages
  properties: {
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

// What a code deployment needs and nothing more (Website Contributor would also list host and function keys, that
// is full admin rights). learn.microsoft.com, "Kudu service overview": Entra ID access to Kudu (OneDeploy, what
// Core Tools and azd use) needs Microsoft.Web/sites/publish/Action.
var codePublisherActions = [
  'Microsoft.Web/sites/read' // find the app, its plan kind and its scm host
  'Microsoft.Web/sites/config/list/Action' // Core Tools read the app settings before publishing; none is a secret
  'Microsoft.Web/sites/publish/Action' // OneDeploy to the scm site with an Entra ID token
  'Microsoft.Web/sites/restart/Action' // Consumption (Y1): restart after uploading the package blob
  'Microsoft.Web/sites/syncfunctiontriggers/action' // Consumption (Y1): sync triggers after the upload
  'Microsoft.Web/sites/host/sync/action' // the same through the host's endpoint
]

var deploymentScope = resourceGroup().id

resource codePublisherRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (!empty(ciPrincipalId)) {
  name: guid(resourceGroup().id, 'gateway-code-publisher')
  properties: {
    roleName: 'Gateway code publisher ${uniqueString(resourceGroup().id)}'
    description: 'Publishes code to the gateway function apps: read the app and its settings, OneDeploy through Kudu, restart and sync triggers. Cannot list host or function keys, change settings or roles.'
    type: 'CustomRole'
    permissions: [
      {
        actions: codePublisherActions
        notActions: []
      }
    ]
    assignableScopes: [
      deploymentScope
    ]
  }
}

// Gateway code publisher on the data-plane app, for the CI principal: publishes the package (func publish / azd deploy).
resource ciDataApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(ciPrincipalId)) {
  name: guid(dataApp.id, ciPrincipalId, codePublisherRole.id)
  scope: dataApp
  properties: {
    principalId: ciPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: codePublisherRole.id
  }
}

// Gateway code publisher on the admin app, for the CI principal: publishes the same package there.
resource ciAdminApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(ciPrincipalId)) {
  name: guid(adminApp.id, ciPrincipalId, codePublisherRole.id)
  scope: adminApp
  properties: {
    principalId: ciPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: codePublisherRole.id
  }
}

// Storage Blob Data Contributor on the data-plane package container, Consumption (Y1) only, for the CI principal:
// the Y1 publish path of the workflow uploads the package blob.
resource ciDataPackages 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (ciUploadsPackages) {
  name: guid(dataStorage::blobService::dataPackages.id, ciPrincipalId, roles.storageBlobDataContributor)
  scope: dataStorage::blobService::dataPackages
  properties: {
    principalId: ciPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

// Storage Blob Data Contributor on the admin package container, Consumption (Y1) only, for the CI principal.
resource ciAdminPackages 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (ciUploadsPackages) {
  name: guid(adminStorage::blobService::adminPackages.id, ciPrincipalId, roles.storageBlobDataContributor)
  scope: adminStorage::blobService::adminPackages
  properties: {
    principalId: ciPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

output codePublisherRoleId string = empty(ciPrincipalId) ? '' : codePublisherRole.id
