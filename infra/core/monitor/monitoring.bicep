metadata description = 'Log Analytics workspace (created, or an existing one) and a workspace-based Application Insights component with local (key) auth disabled; retention, access mode and public ingestion as parameters.'

@description('Log Analytics workspace name (used when existingLogAnalyticsWorkspaceId is empty).')
param logAnalyticsName string

@description('Resource id of an existing Log Analytics workspace to send everything to. Empty: the template creates one.')
param existingLogAnalyticsWorkspaceId string = ''

@description('Application Insights component name.')
param applicationInsightsName string

@description('Region.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

@description('Days the created workspace keeps data interactively (30-730).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 90

@description('Total days the created workspace keeps the AzureDiagnostics table (Key Vault AuditEvent): interactive for retentionInDays, then long-term (archive), up to 12 years (4383 days).')
@minValue(30)
@maxValue(4383)
param auditLogRetentionInDays int = 365

@description('Access control mode of the created workspace: true = resource-context ("use resource or workspace permissions": a reader of the function app sees only its logs, not the Key Vault audit); false = workspace permissions required for every table.')
param resourcePermissionsOnly bool = true

@description('false: Application Insights and the created workspace refuse ingestion from public networks, so the apps send telemetry through the Azure Monitor private link scope only. Queries (portal, alerts, workbook) stay public; see docs/deploy.md for the availability test.')
param publicIngestion bool = true

var createWorkspace = empty(existingLogAnalyticsWorkspaceId)

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = if (createWorkspace) {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      // learn.microsoft.com, "Manage access to Log Analytics workspaces": the access control mode.
      enableLogAccessUsingOnlyResourcePermissions: resourcePermissionsOnly
    }
    // Diagnostic settings (Key Vault, tables, the app) reach the workspace over Microsoft's channel whatever
    // this says (learn.microsoft.com, "Design your Private Link setup", Exceptions: diagnostic logs).
    publicNetworkAccessForIngestion: publicIngestion ? 'Enabled' : 'Disabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

// Key Vault's AuditEvent log lands in AzureDiagnostics: keep it past the workspace's interactive retention
// (learn.microsoft.com, "Manage data retention in a Log Analytics workspace": per-table retentionInDays and
// totalRetentionInDays, up to 12 years).
resource auditTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = if (createWorkspace) {
  parent: workspace
  name: 'AzureDiagnostics'
  properties: {
    plan: 'Analytics'
    retentionInDays: retentionInDays
    totalRetentionInDays: max(auditLogRetentionInDays, retentionInDays)
  }
}

var workspaceId = createWorkspace ? workspace.id : existingLogAnalyticsWorkspaceId

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    // Workspace-based: requests, dependencies and metrics land in the same workspace as the diagnostic logs.
    WorkspaceResourceId: workspaceId
    // Telemetry is accepted only with an Entra token (Monitoring Metrics Publisher role, APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: publicIngestion ? 'Enabled' : 'Disabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

output logAnalyticsWorkspaceId string = workspaceId
output applicationInsightsName string = appInsights.name
output applicationInsightsId string = appInsights.id
output applicationInsightsConnectionString string = appInsights.properties.ConnectionString
