metadata description = 'Diagnostic settings into one Log Analytics workspace: the function apps\' logs and metrics, Key Vault\'s audit log (AuditEvent) and the table service\'s request log.'

@description('Resource id of the Log Analytics workspace.')
param workspaceId string

@description('Names of the function apps (data plane and admin).')
param functionAppNames array

@description('Key Vault name.')
param keyVaultName string

@description('Storage account name (its table service holds routes, clients and audit).')
param storageAccountName string

var settingName = 'to-log-analytics'

resource sites 'Microsoft.Web/sites@2024-04-01' existing = [for appName in functionAppNames: {
  name: appName
}]

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource tableService 'tableServices' existing = {
    name: 'default'
  }
}

// Host and worker logs (FunctionAppLogs) and the platform metrics of each app (AzureMetrics: the front end's Http5xx
// that the host-failure alert compares with the gateway's own requests).
resource siteDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = [for (appName, index) in functionAppNames: {
  name: settingName
  scope: sites[index]
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}]

// Who read or changed which secret, key or verifier, and every throttled (429) call.
resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

// Every table request (StorageTableLogs), including throttled ones (ServerBusy, ClientThrottlingError).
resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: storage::tableService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}
