// Interop partner gateway: one deployment stands up everything the function app needs.
//
// Scope: SUBSCRIPTION. The template creates (or reuses) its resource group, as the azd
// Functions quickstart does, so `azd up` and `az deployment sub create` work the same way:
//   az deployment sub create --location <region> --template-file infra/main.bicep \
//     --parameters environmentName=<env> location=<region>
// No keys or passwords anywhere: the app reaches Storage, Key Vault and Application
// Insights with one user-assigned managed identity (roles in app/rbac.bicep).
targetScope = 'subscription'

// ---------------------------------------------------------------- environment
@minLength(1)
@maxLength(64)
@description('Name of the environment (e.g. dev, prod); used in the resource group name and the unique resource token.')
param environmentName string

@minLength(1)
@description('Azure region for every resource (must offer Flex Consumption when hostingPlan is FlexConsumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Tags added to every resource.')
param tags object = {}

// ---------------------------------------------------------------- names (empty: derived from the resource token)
@description('Resource group name. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Function app name (also the default host name <name>.azurewebsites.net). Default: func-gw-<token>.')
param functionAppName string = ''

@description('App Service plan name. Default: plan-<token>.')
param appServicePlanName string = ''

@description('Storage account name (3-24 lowercase letters and digits). Default: st<token>.')
param storageAccountName string = ''

@description('Key Vault name (3-24 characters). Default: kv-<token>.')
param keyVaultName string = ''

@description('Log Analytics workspace name. Default: log-<token>.')
param logAnalyticsName string = ''

@description('Application Insights name. Default: appi-<token>.')
param applicationInsightsName string = ''

@description('User-assigned managed identity name. Default: id-gw-<token>.')
param userAssignedIdentityName string = ''

@description('Optional object id of the deployer (azd sets AZURE_PRINCIPAL_ID): may upload the package blob for the Consumption plan publish path. Empty: no role for the deployer.')
param principalId string = ''

@description('Principal type of principalId (User, or ServicePrincipal for a CI pipeline).')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

// ---------------------------------------------------------------- hosting
@description('FlexConsumption (FC1, default) or Consumption (Y1, Linux; see docs/deploy.md for its publish path).')
@allowed([
  'FlexConsumption'
  'Consumption'
])
param hostingPlan string = 'FlexConsumption'

@description('Flex Consumption: largest number of instances (caps scale-out and cost).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption: memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// ---------------------------------------------------------------- public URL
@description('Optional custom domain (e.g. fhir.example.org) bound with a free managed certificate. Its CNAME must already point at <functionAppName>.azurewebsites.net and the asuid TXT record must exist.')
param customDomainName string = ''

@description('Optional public base URL override (https, no trailing slash), e.g. behind Front Door. Default: https://<customDomainName> or https://<functionAppName>.azurewebsites.net.')
param publicBaseUrl string = ''

// ---------------------------------------------------------------- admin API protection
@description('Put App Service authentication (Entra ID) in front of the admin API (/manage/...) and require an app role.')
param enableAdminAuth bool = false

@description('Client id of the Entra app registration that protects the admin API (required when enableAdminAuth).')
param adminAuthClientId string = ''

@description('Entra app role the admin API requires (ADMIN_REQUIRED_ROLE) when enableAdminAuth.')
param adminRequiredRole string = 'Gateway.Admin'

// ---------------------------------------------------------------- Key Vault
@description('Key Vault purge protection. Recommended (default true); a purge-protected vault name stays reserved for the retention period after deletion.')
param enablePurgeProtection bool = true

@description('Days a deleted vault or secret can be recovered (7-90).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

// ---------------------------------------------------------------- gateway settings (gateway/config.py SETTINGS)
@description('FHIR version the gateway advertises (FHIR_VERSION).')
@allowed([
  'DSTU2'
  'STU3'
  'R4'
])
param fhirVersion string = 'STU3'

@description('Prefix of the gateway table names (TABLE_NAME_PREFIX); the template creates <prefix>routes, <prefix>clients and <prefix>audit.')
param tableNamePrefix string = 'gw'

@description('Prefix of the gateway Key Vault secret names (KEY_VAULT_SECRET_PREFIX).')
param keyVaultSecretPrefix string = 'gw'

@description('Lifetime of issued access tokens in seconds (TOKEN_LIFETIME_SECONDS, 60-86400).')
@minValue(60)
@maxValue(86400)
param tokenLifetimeSeconds int = 3600

@description('`aud` of issued tokens (TOKEN_AUDIENCE). Empty: the FHIR base URL.')
param tokenAudience string = ''

@description('Seconds a worker trusts a cached client record and secret verifier (CLIENT_CACHE_SECONDS, 0-300).')
@minValue(0)
@maxValue(300)
param clientCacheSeconds int = 60

@description('Seconds a worker trusts a cached tenant route (ROUTE_CACHE_SECONDS, 0-300).')
@minValue(0)
@maxValue(300)
param routeCacheSeconds int = 30

@description('Seconds a cached entry keeps serving while its store is unreachable (STALE_IF_ERROR_SECONDS).')
@minValue(0)
@maxValue(86400)
param staleIfErrorSeconds int = 3600

@description('Seconds a worker trusts its cached signing key set (SIGNING_KEY_CACHE_SECONDS).')
@minValue(0)
@maxValue(3600)
param signingKeyCacheSeconds int = 300

@description('Lifetime of newly created client secrets in days (CLIENT_SECRET_LIFETIME_DAYS).')
@minValue(1)
@maxValue(730)
param clientSecretLifetimeDays int = 180

@description('Failed token requests allowed per client id and source address in the window (AUTH_FAILURE_LIMIT).')
@minValue(1)
param authFailureLimit int = 10

@description('Failed token requests allowed per source address in the window (AUTH_FAILURE_LIMIT_PER_ADDRESS).')
@minValue(1)
param authFailureLimitPerAddress int = 50

@description('Window and lock-out time of the failure limits in seconds (AUTH_FAILURE_WINDOW_SECONDS).')
@minValue(1)
param authFailureWindowSeconds int = 60

@description('Default provider connect timeout in seconds (PROXY_CONNECT_TIMEOUT_SECONDS).')
@minValue(1)
@maxValue(30)
param proxyConnectTimeoutSeconds int = 5

@description('Default provider read timeout in seconds (PROXY_READ_TIMEOUT_SECONDS; far below the 230 s front-end limit).')
@minValue(1)
@maxValue(180)
param proxyReadTimeoutSeconds int = 30

@description('Largest provider response body accepted, in bytes (PROXY_MAX_RESPONSE_BYTES).')
param proxyMaxResponseBytes int = 33554432

@description('Largest request body accepted by the proxy and the admin API, in bytes (MAX_REQUEST_BODY_BYTES).')
param maxRequestBodyBytes int = 4194304

// ---------------------------------------------------------------- derived names
var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName })
var appName = !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}gw-${resourceToken}'
var deploymentContainerName = 'app-package-${take(toLower(appName), 32)}-${take(toLower(uniqueString(appName, resourceToken)), 7)}'
var baseUrl = !empty(publicBaseUrl) ? publicBaseUrl : (!empty(customDomainName) ? 'https://${customDomainName}' : 'https://${appName}.azurewebsites.net')
var tableNames = [
  '${tableNamePrefix}routes'
  '${tableNamePrefix}clients'
  '${tableNamePrefix}audit'
  '${tableNamePrefix}authfailures'
]

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: allTags
}

module identity 'core/identity/user-assigned-identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: !empty(userAssignedIdentityName) ? userAssignedIdentityName : '${abbrs.managedIdentityUserAssignedIdentities}gw-${resourceToken}'
    location: location
    tags: allTags
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: !empty(logAnalyticsName) ? logAnalyticsName : '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: !empty(applicationInsightsName) ? applicationInsightsName : '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: allTags
  }
}

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: allTags
    containers: [deploymentContainerName]
    tables: tableNames
  }
}

module keyVault 'core/security/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: !empty(keyVaultName) ? keyVaultName : '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: allTags
    enablePurgeProtection: enablePurgeProtection
    softDeleteRetentionInDays: softDeleteRetentionInDays
  }
}

module plan 'core/host/appserviceplan.bicep' = {
  name: 'appserviceplan'
  scope: rg
  params: {
    name: !empty(appServicePlanName) ? appServicePlanName : '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: allTags
    hostingPlan: hostingPlan
  }
}

// Every setting gateway/config.py reads in production (tests/infra keeps this in step with SETTINGS).
// Development-only settings (TABLES_CONNECTION_STRING, KEY_VAULT_CA_BUNDLE, emulator credential) are absent on purpose.
var gatewayAppSettings = {
  GATEWAY_ENVIRONMENT: 'production'
  PUBLIC_BASE_URL: baseUrl
  FHIR_VERSION: fhirVersion
  TOKEN_LIFETIME_SECONDS: string(tokenLifetimeSeconds)
  TOKEN_AUDIENCE: tokenAudience
  TABLES_ENDPOINT: storage.outputs.tableEndpoint
  TABLE_NAME_PREFIX: tableNamePrefix
  KEY_VAULT_URL: keyVault.outputs.uri
  KEY_VAULT_VERIFY_CHALLENGE_RESOURCE: 'true'
  KEY_VAULT_CREDENTIAL: 'managed-identity'
  KEY_VAULT_SECRET_PREFIX: keyVaultSecretPrefix
  AZURE_CLIENT_ID: identity.outputs.clientId
  CLIENT_CACHE_SECONDS: string(clientCacheSeconds)
  ROUTE_CACHE_SECONDS: string(routeCacheSeconds)
  STALE_IF_ERROR_SECONDS: string(staleIfErrorSeconds)
  SIGNING_KEY_CACHE_SECONDS: string(signingKeyCacheSeconds)
  CLIENT_SECRET_LIFETIME_DAYS: string(clientSecretLifetimeDays)
  AUTH_FAILURE_LIMIT: string(authFailureLimit)
  AUTH_FAILURE_LIMIT_PER_ADDRESS: string(authFailureLimitPerAddress)
  AUTH_FAILURE_WINDOW_SECONDS: string(authFailureWindowSeconds)
  // Only trusted when App Service authentication fills X-MS-CLIENT-PRINCIPAL; empty (function key only) otherwise.
  ADMIN_REQUIRED_ROLE: enableAdminAuth ? adminRequiredRole : ''
  PROXY_CONNECT_TIMEOUT_SECONDS: string(proxyConnectTimeoutSeconds)
  PROXY_READ_TIMEOUT_SECONDS: string(proxyReadTimeoutSeconds)
  PROXY_MAX_RESPONSE_BYTES: string(proxyMaxResponseBytes)
  MAX_REQUEST_BODY_BYTES: string(maxRequestBodyBytes)
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  // The app starts with its roles in place (host storage, deployment container, Key Vault).
  dependsOn: [
    rbac
  ]
  params: {
    name: appName
    location: location
    tags: allTags
    hostingPlan: hostingPlan
    appServicePlanId: plan.outputs.id
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appSettings: gatewayAppSettings
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

// All role assignments of the app's identity, in one place.
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module adminAuth 'app/auth.bicep' = if (enableAdminAuth) {
  name: 'admin-auth'
  scope: rg
  params: {
    functionAppName: api.outputs.name
    clientId: adminAuthClientId
  }
}

module customDomain 'app/custom-domain.bicep' = if (!empty(customDomainName)) {
  name: 'custom-domain'
  scope: rg
  params: {
    functionAppName: api.outputs.name
    appServicePlanId: plan.outputs.id
    domainName: customDomainName
    location: location
    tags: allTags
  }
}

// ---------------------------------------------------------------- outputs (azd stores them in .azure/<env>/.env)
@description('Region of the deployment.')
output AZURE_LOCATION string = location
@description('Entra tenant of the subscription.')
output AZURE_TENANT_ID string = tenant().tenantId
@description('Resource group holding everything.')
output AZURE_RESOURCE_GROUP string = rg.name
@description('Function app name (azd service api).')
output SERVICE_API_NAME string = api.outputs.name
@description('Function app name, for func azure functionapp publish.')
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
@description('Public base URL (PUBLIC_BASE_URL app setting).')
output PUBLIC_BASE_URL string = baseUrl
@description('FHIR base URL to give the Teams Patients app.')
output FHIR_BASE_URL string = '${baseUrl}/fhir'
@description('OAuth 2.0 token endpoint advertised in the metadata.')
output TOKEN_URL string = '${baseUrl}/oauth2/token'
@description('Base of the admin API (function key required).')
output ADMIN_BASE_URL string = '${baseUrl}/manage'
@description('Key Vault URI (KEY_VAULT_URL).')
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri
@description('Key Vault name.')
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
@description('Storage account name.')
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
@description('Table endpoint (TABLES_ENDPOINT).')
output AZURE_TABLES_ENDPOINT string = storage.outputs.tableEndpoint
@description('Client id of the user-assigned managed identity the app runs as.')
output AZURE_CLIENT_ID string = identity.outputs.clientId
@description('Application Insights connection string (not a secret: ingestion requires Entra ID).')
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
