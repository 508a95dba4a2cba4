metadata description = 'Log Analytics workspace (created, or an existing one) and a workspace-based Application Insights component with local (key) auth disabled.'

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

@description('Days of log retention (created workspace only).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

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
  }
}

output logAnalyticsWorkspaceId string = workspaceId
output applicationInsightsName string = appInsights.name
output applicationInsightsId string = appInsights.id
output applicationInsightsConnectionString string = appInsights.properties.ConnectionString
