metadata description = 'Linux Python function app on Flex Consumption (FC1) or Consumption (Y1) with a user-assigned identity: HTTPS only, TLS 1.2, FTP off, no basic publishing credentials; optional virtual network integration, private-only access or an access restriction list.'

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

// The platform's limits for Flex Consumption (learn.microsoft.com, "Flex Consumption plan hosting",
// Considerations: "The lowest maximum scale is currently 40. The highest currently supported value is 1000";
// Instance sizes: 512, 2048 or 4096 MB).
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

@description('Flex Consumption: concurrent HTTP invocations one instance takes before the platform adds another (functionAppConfig.scaleAndConcurrency.triggers.http.perInstanceConcurrency; Python apps default to 1). Chosen from the load bench, docs/operations.md.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int

@description('Flex Consumption: always-ready instances of the `http` scale group (0 = scale to zero; each one is billed around the clock at the always-ready baseline rate).')
@minValue(0)
@maxValue(20)
param alwaysReadyInstances int = 0

@description('Flex Consumption: resource id of the subnet (delegated to Microsoft.App/environments) the app joins for outbound traffic. Empty: no virtual network.')
param virtualNetworkSubnetId string = ''

@description('false: the app refuses every request from public networks and is reached only through its private endpoint (app/private-networking.bicep).')
param publicNetworkAccess bool = true

@description('Sources allowed to reach the app from public networks: CIDR ranges (e.g. 203.0.113.0/24) or service tags (e.g. AzureFrontDoor.Backend). Empty: no access restriction.')
param allowedSources array = []

var isFlex = hostingPlan == 'FlexConsumption'

// Linux Consumption gets no language version after 30 September 2025; its last Python is 3.12
// (learn.microsoft.com, "Azure Functions Consumption plan hosting"). Flex Consumption runs 3.13.
var consumptionPythonVersion = '3.12'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

// Access restrictions (learn.microsoft.com, "Set up Azure App Service access restrictions"): an entry with a `/` is
// an IP range, anything else a service tag; everything else is denied. The SCM site keeps its own (open) list:
// deployments authenticate with Entra ID (basic publishing credentials are off).
var accessRestrictions = [for (source, index) in allowedSources: {
  name: 'allow-${index}'
  priority: 100 + index
  action: 'Allow'
  ipAddress: source
  tag: contains(source, '/') ? 'Default' : 'ServiceTag'
}]

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
    publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'
    // Flex Consumption sends all outbound traffic into the joined subnet (vnetRouteAllEnabled and
    // WEBSITE_VNET_ROUTE_ALL are among its deprecated settings), so the subnet's NAT gateway is the egress.
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : (isFlex ? virtualNetworkSubnetId : fail('virtual network integration needs hostingPlan FlexConsumption'))
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      linuxFxVersion: isFlex ? null : 'Python|${consumptionPythonVersion}'
      ipSecurityRestrictions: empty(allowedSources) ? null : accessRestrictions
      ipSecurityRestrictionsDefaultAction: empty(allowedSources) ? null : 'Deny'
      scmIpSecurityRestrictionsUseMain: false
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
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
        // learn.microsoft.com, "Flex Consumption plan hosting", Always ready instances: per scale group (`http`).
        alwaysReady: alwaysReadyInstances > 0 ? [
          {
            name: 'http'
            instanceCount: alwaysReadyInstances
          }
        ] : []
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
  // (func publish and azd use an Entra token; the workflow logs in with OIDC). `location` is absent from the type
  // but the resource provider refuses the PUT without it (Azure/bicep-types-az#1527, #1566, #1317).
  resource scmBasicAuth 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    location: location
    properties: {
      allow: false
    }
  }

  resource ftpBasicAuth 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    location: location
    properties: {
      allow: false
    }
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
output uri string = 'https://${site.properties.defaultHostName}'
