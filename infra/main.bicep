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

@description('Log Analytics workspace name. Default: log-<token>. Ignored when existingLogAnalyticsWorkspaceId is set.')
param logAnalyticsName string = ''

@description('Optional resource id of an existing Log Analytics workspace for Application Insights and every diagnostic setting. Empty: the template creates one.')
param existingLogAnalyticsWorkspaceId string = ''

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

@description('Flex Consumption: largest number of instances (caps scale-out and cost; the platform accepts 1-1000).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption: memory per instance in MB (the platform offers 512, 2048 and 4096).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// ---------------------------------------------------------------- public URL
@description('Optional custom domain (e.g. fhir.example.org) bound with a free managed certificate. Its CNAME must already point at <functionAppName>.azurewebsites.net and the asuid TXT record must exist.')
param customDomainName string = ''

@description('Set to true once the first deployment with customDomainName has issued its managed certificate: redeployments then keep the SNI TLS binding as it is instead of re-creating it without TLS first.')
param customDomainCertificateIssued bool = false

@description('Optional public base URL override (https, no trailing slash, no query), e.g. behind Front Door. Default: https://<customDomainName> or https://<functionAppName>.azurewebsites.net.')
param publicBaseUrl string = ''

// ---------------------------------------------------------------- admin API protection (docs/deploy.md)
@description('Client id of the Entra ID app registration of the admin API (v2 access tokens, app role adminRequiredRole). Set: the admin API requires an Entra ID access token for it carrying that role, besides the function key (ADMIN_AUTH_AUTHORITY, ADMIN_AUTH_AUDIENCE, ADMIN_REQUIRED_ROLE). Empty: function key only.')
param adminAuthClientId string = ''

@description('Entra ID tenant of the admin API app registration. Default: the tenant of the subscription.')
param adminAuthTenantId string = tenant().tenantId

@description('App role the admin API requires in the caller\'s access token (ADMIN_REQUIRED_ROLE).')
@minLength(1)
param adminRequiredRole string = 'Gateway.Admin'

@description('Optional extra layer: App Service authentication (Easy Auth) with the same app registration in front of the admin API. The app checks the tokens itself either way.')
param enableAdminEasyAuth bool = false

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

@description('Prefix of the gateway table names (TABLE_NAME_PREFIX: up to 20 letters and digits, starting with a letter); the template creates <prefix>routes, <prefix>clients, <prefix>audit, <prefix>authfailures (failure counters shared by every instance) and <prefix>replay (client assertion ids).')
@minLength(1)
@maxLength(20)
param tableNamePrefix string = 'gw'

@description('Prefix of the gateway Key Vault secret names (KEY_VAULT_SECRET_PREFIX: up to 20 letters, digits and hyphens, starting with a letter).')
@minLength(1)
@maxLength(20)
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

@description('Cache lifetime of /oauth2/provider-jwks in seconds (PROVIDER_JWKS_MAX_AGE_SECONDS); a rotated provider assertion key signs only after this plus the worker cache and a margin.')
@minValue(1)
@maxValue(3600)
param providerJwksMaxAgeSeconds int = 300

@description('Lifetime of newly created client secrets in days (CLIENT_SECRET_LIFETIME_DAYS).')
@minValue(1)
@maxValue(730)
param clientSecretLifetimeDays int = 180

@description('Failed token requests allowed per client id and source address in the window (AUTH_FAILURE_LIMIT).')
@minValue(1)
@maxValue(10000)
param authFailureLimit int = 10

@description('Failed token requests allowed per source address in the window (AUTH_FAILURE_LIMIT_PER_ADDRESS).')
@minValue(1)
@maxValue(100000)
param authFailureLimitPerAddress int = 50

@description('Window and lock-out time of the failure limits in seconds (AUTH_FAILURE_WINDOW_SECONDS).')
@minValue(1)
@maxValue(86400)
param authFailureWindowSeconds int = 60

@description('Also accept RS256 and ES256 private_key_jwt client assertions (CLIENT_ASSERTION_ALLOW_SHA256).')
param clientAssertionAllowSha256 bool = false

@description('Longest fetch of a client JWKS URL in seconds (JWKS_FETCH_TIMEOUT_SECONDS).')
@minValue(1)
@maxValue(30)
param jwksFetchTimeoutSeconds int = 5

@description('Largest JWKS a client JWKS URL may answer, in bytes (JWKS_MAX_BYTES).')
@minValue(1024)
@maxValue(1048576)
param jwksMaxBytes int = 65536

@description('Freshness of a fetched JWKS without caching headers, in seconds (JWKS_DEFAULT_CACHE_SECONDS).')
@minValue(60)
@maxValue(86400)
param jwksDefaultCacheSeconds int = 900

@description('Default provider connect timeout in seconds (PROXY_CONNECT_TIMEOUT_SECONDS).')
@minValue(1)
@maxValue(30)
param proxyConnectTimeoutSeconds int = 5

@description('Default provider read timeout in seconds (PROXY_READ_TIMEOUT_SECONDS; far below the 230 s front-end limit).')
@minValue(1)
@maxValue(180)
param proxyReadTimeoutSeconds int = 30

@description('Largest provider response body accepted, in bytes (PROXY_MAX_RESPONSE_BYTES, 1 KiB-1 GiB).')
@minValue(1024)
@maxValue(1073741824)
param proxyMaxResponseBytes int = 33554432

@description('Largest request body accepted by the proxy and the admin API, in bytes (MAX_REQUEST_BODY_BYTES, 1 KiB-100 MiB).')
@minValue(1024)
@maxValue(104857600)
param maxRequestBodyBytes int = 4194304

// ---------------------------------------------------------------- monitoring and alerts (docs/operations.md)
@description('Resource id of an existing action group every alert notifies. Empty: the template creates one that e-mails alertEmailAddresses.')
param existingActionGroupId string = ''

@description('E-mail addresses of the action group the template creates (ignored with existingActionGroupId).')
param alertEmailAddresses array = []

@description('Alert when more than this percentage of gateway requests in 5 minutes end in a 5xx.')
@minValue(1)
@maxValue(100)
param serverErrorRateThresholdPercent int = 5

@description('Alert when one tenant\'s provider calls fail more than this many times in 5 minutes.')
@minValue(1)
param providerErrorsThreshold int = 10

@description('Alert when more than this many token requests fail in 5 minutes (credential guessing).')
@minValue(1)
param tokenFailuresThreshold int = 50

// ---------------------------------------------------------------- derived names
var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName })
var appName = !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}gw-${resourceToken}'
var deploymentContainerName = 'app-package-${take(toLower(appName), 32)}-${take(toLower(uniqueString(appName, resourceToken)), 7)}'
// PUBLIC_BASE_URL must be https without a trailing slash, query or fragment (gateway/config.py refuses anything else
// at start); a wrong publicBaseUrl fails the deployment instead of the app.
var publicBaseUrlIsValid = empty(publicBaseUrl) || (startsWith(publicBaseUrl, 'https://') && length(publicBaseUrl) > 8 && !startsWith(publicBaseUrl, 'https:///') && !startsWith(publicBaseUrl, 'https://:') && !endsWith(publicBaseUrl, '/') && !contains(publicBaseUrl, '?') && !contains(publicBaseUrl, '#') && !contains(publicBaseUrl, ' '))
var checkedPublicBaseUrl = publicBaseUrlIsValid ? publicBaseUrl : fail('publicBaseUrl must be an https URL without a trailing slash, query or fragment')
var baseUrl = !empty(checkedPublicBaseUrl) ? checkedPublicBaseUrl : (!empty(customDomainName) ? 'https://${customDomainName}' : 'https://${appName}.azurewebsites.net')
// The admin API checks Entra ID v2 access tokens itself: issuer https://<login host>/<tenant>/v2.0 (the login host of
// this cloud), audience the client id (v2 access tokens carry the client id as `aud`).
var adminAuthEnabled = !empty(adminAuthClientId)
var adminAuthAuthority = '${environment().authentication.loginEndpoint}${adminAuthTenantId}/v2.0'
var tableNames = [
  '${tableNamePrefix}routes'
  '${tableNamePrefix}clients'
  '${tableNamePrefix}audit'
  '${tableNamePrefix}authfailures'
  '${tableNamePrefix}replay'
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
    existingLogAnalyticsWorkspaceId: existingLogAnalyticsWorkspaceId
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
  CLIENT_ASSERTION_ALLOW_SHA256: clientAssertionAllowSha256 ? 'true' : 'false'
  JWKS_FETCH_TIMEOUT_SECONDS: string(jwksFetchTimeoutSeconds)
  JWKS_MAX_BYTES: string(jwksMaxBytes)
  JWKS_DEFAULT_CACHE_SECONDS: string(jwksDefaultCacheSeconds)
  // Entra ID access tokens on the admin API, verified by the app; all three empty: function key only.
  ADMIN_AUTH_AUTHORITY: adminAuthEnabled ? adminAuthAuthority : ''
  ADMIN_AUTH_AUDIENCE: adminAuthEnabled ? adminAuthClientId : ''
  ADMIN_REQUIRED_ROLE: adminAuthEnabled ? adminRequiredRole : ''
  PROXY_CONNECT_TIMEOUT_SECONDS: string(proxyConnectTimeoutSeconds)
  PROXY_READ_TIMEOUT_SECONDS: string(proxyReadTimeoutSeconds)
  PROXY_MAX_RESPONSE_BYTES: string(proxyMaxResponseBytes)
  MAX_REQUEST_BODY_BYTES: string(maxRequestBodyBytes)
  // A hung store: admin requests answer 503 + Retry-After within STORE_TIMEOUT_SECONDS, each store read
  // gives up after STORE_READ_TIMEOUT_SECONDS.
  STORE_TIMEOUT_SECONDS: '8'
  STORE_READ_TIMEOUT_SECONDS: '4'
  PROVIDER_JWKS_MAX_AGE_SECONDS: string(providerJwksMaxAgeSeconds)
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

module adminAuth 'app/auth.bicep' = if (enableAdminEasyAuth) {
  name: 'admin-auth'
  scope: rg
  params: {
    functionAppName: api.outputs.name
    clientId: !empty(adminAuthClientId) ? adminAuthClientId : fail('enableAdminEasyAuth needs adminAuthClientId')
    tenantId: adminAuthTenantId
  }
}

module customDomain 'app/custom-domain.bicep' = if (!empty(customDomainName)) {
  name: 'custom-domain'
  scope: rg
  params: {
    functionAppName: api.outputs.name
    appServicePlanId: plan.outputs.id
    hostingPlan: hostingPlan
    domainName: customDomainName
    certificateIssued: customDomainCertificateIssued
    location: location
    tags: allTags
  }
}

// Diagnostic logs of the app, Key Vault (AuditEvent) and the table service into the workspace.
module diagnostics 'core/monitor/diagnostics.bicep' = {
  name: 'diagnostics'
  scope: rg
  params: {
    workspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    functionAppName: api.outputs.name
    keyVaultName: keyVault.outputs.name
    storageAccountName: storage.outputs.name
  }
}

// Alerts, the /fhir/metadata availability test and the per-tenant workbook (docs/operations.md).
module alerts 'core/monitor/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: appName
    location: location
    tags: allTags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    storageAccountName: storage.outputs.name
    metadataUrl: '${baseUrl}/fhir/metadata'
    existingActionGroupId: existingActionGroupId
    alertEmailAddresses: alertEmailAddresses
    serverErrorRateThresholdPercent: serverErrorRateThresholdPercent
    providerErrorsThreshold: providerErrorsThreshold
    tokenFailuresThreshold: tokenFailuresThreshold
  }
}

// The per-tenant workbook (docs/operations.md).
module workbook 'core/monitor/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    displayName: 'Interop gateway: tenants (${appName})'
    location: location
    tags: allTags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
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
@description('Base of the admin API (function key required; an Entra ID token too with adminAuthClientId).')
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
@description('Log Analytics workspace holding the telemetry and the diagnostic logs.')
output AZURE_LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.logAnalyticsWorkspaceId
@description('Authority of the admin API\'s Entra ID tokens (ADMIN_AUTH_AUTHORITY); empty without adminAuthClientId.')
output ADMIN_AUTH_AUTHORITY string = adminAuthEnabled ? adminAuthAuthority : ''
