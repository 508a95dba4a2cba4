metadata description = 'The gateway function app (azd service "api"): identity-based AzureWebJobsStorage, Entra-authenticated Application Insights and the product settings.'

@description('Function app name.')
param name string

@description('Region.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

@description('azd service name (azure.yaml services key).')
param serviceName string = 'api'

@description('FlexConsumption or Consumption.')
param hostingPlan string

@description('Resource id of the App Service plan.')
param appServicePlanId string

@description('Storage account of the Functions host and the deployment package.')
param storageAccountName string

@description('Blob container of the deployment package.')
param deploymentContainerName string

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Product settings (gateway/config.py SETTINGS), built in main.bicep.')
param appSettings object

@description('Flex Consumption: largest number of instances (1-1000).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption: memory per instance in MB (512, 2048 or 4096).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The Functions host's own storage, reached with the identity (no connection string, no key).
// Roles: Storage Blob Data Owner, Storage Table Data Contributor (app/rbac.bicep); no queue role (HTTP triggers only).
var hostAppSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  // Entra ID authentication for telemetry (the component has local auth disabled); role: Monitoring Metrics Publisher.
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // host.json "telemetryMode": "OpenTelemetry" + this: the worker makes the host's invocation context current,
  // so the gateway's spans (gateway/telemetry) join the host's trace instead of starting their own.
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
}

module functionApp '../core/host/functions.bicep' = {
  name: '${serviceName}-function-app'
  params: {
    name: name
    location: location
    tags: union(tags, { 'azd-service-name': serviceName })
    hostingPlan: hostingPlan
    appServicePlanId: appServicePlanId
    identityId: identityId
    storageAccountName: storageAccountName
    deploymentContainerName: deploymentContainerName
    appSettings: union(appSettings, hostAppSettings)
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

output name string = functionApp.outputs.name
output uri string = functionApp.outputs.uri
output defaultHostName string = functionApp.outputs.defaultHostName
