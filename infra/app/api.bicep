metadata description = 'One gateway function app (azd service "api" for the data plane, "admin" for the admin API): the same package, its own identity, identity-based AzureWebJobsStorage, Entra-authenticated Application Insights and the product settings; the functions that belong to the other app disabled.'

@description('Function app name.')
param name string

@description('Region.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

@description('azd service name (azure.yaml services key): api (data plane) or admin.')
@allowed([
  'api'
  'admin'
])
param serviceName string = 'api'

@description('FlexConsumption or Consumption.')
param hostingPlan string

@description('Resource id of the App Service plan.')
param appServicePlanId string

@description('Storage account of this app\'s Functions host and its deployment package.')
param storageAccountName string

@description('Blob container of the deployment package.')
param deploymentContainerName string

@description('Resource id of the app\'s user-assigned identity.')
param identityId string

@description('Client id of the app\'s user-assigned identity (AZURE_CLIENT_ID: the identity the gateway code signs in with).')
param identityClientId string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Product settings (gateway/config.py SETTINGS), built in main.bicep.')
param appSettings object

@description('Function folders this app must not run (the ones that belong to the other app), disabled with AzureWebJobs.<name>.Disabled.')
param disabledFunctions array

@description('Flex Consumption: largest number of instances (40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption: memory per instance in MB (512, 2048 or 4096).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption: concurrent HTTP invocations per instance.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int

@description('Flex Consumption: always-ready instances of the http scale group.')
@minValue(0)
@maxValue(20)
param alwaysReadyInstances int = 0

@description('Flex Consumption: subnet the app joins for outbound traffic. Empty: none.')
param virtualNetworkSubnetId string = ''

@description('false: reachable only through a private endpoint.')
param publicNetworkAccess bool = true

@description('CIDR ranges or service tags allowed from public networks. Empty: no restriction.')
param allowedSources array = []

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The Functions host's own storage, reached with the identity (no connection string, no key). HTTP triggers only:
// the host needs blobs (locks, keys) and neither queues nor tables (Azure-Samples/functions-quickstart-python-http-azd,
// storageEndpointConfig: queues for Durable Functions, tables for Durable and OpenAI bindings).
var hostAppSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  // Entra ID authentication for telemetry (the component has local auth disabled); role: Monitoring Metrics Publisher.
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // host.json "telemetryMode": "OpenTelemetry" + this: the worker makes the host's invocation context current,
  // so the gateway's spans (gateway/telemetry) join the host's trace instead of starting their own.
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
}

// The identity the gateway code signs in with to Key Vault, Table Storage and providers (gateway/config.py
// AZURE_CLIENT_ID, gateway/managed_identity.py): each app its own.
var identityAppSettings = {
  AZURE_CLIENT_ID: identityClientId
}

// learn.microsoft.com, "How to disable functions in Azure Functions": an app setting AzureWebJobs.<FUNCTION_NAME>.Disabled
// = true (function.json apps: the folder name; names with a hyphen cannot be disabled on Linux, ours have none).
// A disabled HTTP function answers 404 to everything but the master key.
var disabledFunctionSettings = toObject(disabledFunctions, folder => 'AzureWebJobs.${folder}.Disabled', folder => 'true')

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
    appSettings: union(appSettings, identityAppSettings, hostAppSettings, disabledFunctionSettings)
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    alwaysReadyInstances: alwaysReadyInstances
    virtualNetworkSubnetId: virtualNetworkSubnetId
    publicNetworkAccess: publicNetworkAccess
    allowedSources: allowedSources
  }
}

output name string = functionApp.outputs.name
output id string = functionApp.outputs.id
output uri string = functionApp.outputs.uri
output defaultHostName string = functionApp.outputs.defaultHostName
