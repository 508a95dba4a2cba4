metadata description = 'Linux Python function app on Flex Consumption (FC1) or Consumption (Y1) with a user-assigned identity: HTTPS only, TLS 1.2, FTP off, no basic publishing credentials.'

@description('Function app name.')
param name string

@description('Region.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

@description('FlexConsumption or Consumption (must match the plan).')
@allowed([
  'FlexConsumption'
  'Consumption'
])
param hostingPlan string

@description('Resource id of the App Service plan.')
param appServicePlanId string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Storage account holding the deployment package.')
param storageAccountName string

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('Python version on Flex Consumption (the project runs on 3.13). Linux Consumption (Y1) offers no Python after 3.12, so Y1 runs consumptionPythonVersion instead.')
@allowed([
  '3.13'
])
param pythonVersion string = '3.13'

@description('App settings (identity-based host storage, monitoring and the product settings).')
param appSettings object

// The platform's limits for Flex Consumption (learn.microsoft.com, "Flex Consumption plan hosting" and
// "Event-driven scaling": instance memory 512, 2048 or 4096 MB; maximum instance count 1 to 1000).
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

var isFlex = hostingPlan == 'FlexConsumption'

// Linux Consumption gets no language version after 30 September 2025; its last Python is 3.12
// (learn.microsoft.com, "Azure Functions Consumption plan hosting"). Flex Consumption runs 3.13.
var consumptionPythonVersion = '3.12'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

var packageContainerUrl = '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'

// Consumption (Y1) needs the runtime in app settings and runs from a package blob read with the identity
// (no Azure Files content share, which would need a storage key). Flex Consumption refuses these settings.
var consumptionAppSettings = isFlex ? {} : {
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'python'
  WEBSITE_RUN_FROM_PACKAGE: '${packageContainerUrl}/released-package.zip'
  WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID: identityId
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: appServicePlanId
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      linuxFxVersion: isFlex ? null : 'Python|${consumptionPythonVersion}'
    }
    functionAppConfig: isFlex ? {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: packageContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    } : null
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: union(appSettings, consumptionAppSettings)
  }

  // No basic (user name and password) publishing credentials: deployments authenticate with Entra ID
  // (func publish and azd use an Entra token; the workflow logs in with OIDC).
  resource scmBasicAuth 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }

  resource ftpBasicAuth 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
output uri string = 'https://${site.properties.defaultHostName}'
