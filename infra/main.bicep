// Interop partner gateway: one deployment stands up everything the function app needs.
//
// Scope: SUBSCRIPTION. The template creates (or reuses) its resource group, as the azd
// Functions quickstart does, so `azd up` and `az deployment sub create` work the same way:
//   az deployment sub create --location <region> --template-file infra/main.bicep \
//     --parameters environmentName=<env> location=<region>
// Two function apps run the same package: the data plane (metadata, token, FHIR proxy) and the admin API, each
// with its own user-assigned identity and only the roles its code needs (app/rbac.bicep, docs/security.md).
// No keys or passwords anywhere. With networkIsolation (Flex Consumption) Storage, Key Vault, Azure Monitor
// and the admin app are reached only through private endpoints; the FHIR and token endpoints stay public.
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

@description('Data-plane function app name (metadata, token, FHIR proxy; also the default host name <name>.azurewebsites.net). Default: func-gw-<token>.')
param functionAppName string = ''

@description('Admin function app name (the admin API, /manage). Default: func-gwadm-<token>.')
param adminFunctionAppName string = ''

@description('App Service plan of the data-plane app (Flex Consumption allows one app per plan). Default: plan-<token>.')
param appServicePlanName string = ''

@description('App Service plan of the admin app. Default: plan-adm-<token>.')
param adminAppServicePlanName string = ''

@description('Storage account of the gateway tables and the data-plane app\'s host storage (3-24 lowercase letters and digits). Default: st<token>.')
param storageAccountName string = ''

@description('Storage account of the admin app\'s host storage and package (kept apart so the data-plane identity cannot touch them). Default: stadm<token>.')
param adminStorageAccountName string = ''

@description('Key Vault name (3-24 characters). Default: kv-<token>.')
param keyVaultName string = ''

@description('Log Analytics workspace name. Default: log-<token>. Ignored when existingLogAnalyticsWorkspaceId is set.')
param logAnalyticsName string = ''

@description('Optional resource id of an existing Log Analytics workspace for Application Insights and every diagnostic setting. Empty: the template creates one.')
param existingLogAnalyticsWorkspaceId string = ''

@description('Application Insights name. Default: appi-<token>.')
param applicationInsightsName string = ''

@description('User-assigned managed identity of the data-plane app. Default: id-gw-<token>.')
param userAssignedIdentityName string = ''

@description('User-assigned managed identity of the admin app. Default: id-gwadm-<token>.')
param adminIdentityName string = ''

@description('Optional object id of the deployer (azd sets AZURE_PRINCIPAL_ID). Consumption (Y1) only: may upload the package blobs (Flex Consumption needs no data role for deploying). Empty: no role for the deployer.')
param principalId string = ''

@description('Principal type of principalId (User, or ServicePrincipal for a CI pipeline).')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Optional object id of the CI service principal (GitHub Actions, OIDC): gets a custom role that publishes code to both apps and cannot read function or host keys, plus (Consumption) the package containers. Empty: none.')
param ciPrincipalId string = ''

// ---------------------------------------------------------------- hosting
@description('FlexConsumption (FC1, default) or Consumption (Y1, Linux; see docs/deploy.md for its publish path).')
@allowed([
  'FlexConsumption'
  'Consumption'
])
param hostingPlan string = 'FlexConsumption'

@description('Flex Consumption: largest number of instances of each app (caps scale-out and cost; the platform accepts 40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption: memory per instance in MB (the platform offers 512, 2048 and 4096).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption: concurrent HTTP requests one instance takes before another is added (Python apps default to 1, one instance per request). Measured with the load bench, docs/operations.md "Scale".')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 64

@description('Flex Consumption: always-ready instances of the data plane\'s http group (0 = scale to zero, cold starts after idle; each one is billed around the clock at the always-ready baseline rate, docs/operations.md). With zoneRedundant, 0 or at least 2.')
@minValue(0)
@maxValue(20)
param alwaysReadyInstances int = 0

@description('Flex Consumption: zone-redundant plans and ZRS storage, where the region offers it (az functionapp list-flexconsumption-locations --zone-redundant=true). Chosen at the first deployment: existing storage accounts cannot switch between LRS and ZRS by redeploying.')
param zoneRedundant bool = false

// ---------------------------------------------------------------- private networking (docs/deploy.md)
@description('Flex Consumption only: Storage, Key Vault, Azure Monitor and the admin app reachable only through private endpoints in a virtual network the apps join; outbound traffic through a NAT gateway with one static public IP. The FHIR and token endpoints stay public. Default off: the quickstart needs no network.')
param networkIsolation bool = false

@description('Address space of the virtual network the template creates (networkIsolation without existing subnets).')
param virtualNetworkAddressPrefix string = '10.40.0.0/16'

@description('Data-plane app subnet of the created virtual network (delegated to Microsoft.App/environments).')
param appSubnetAddressPrefix string = '10.40.0.0/24'

@description('Admin app subnet of the created virtual network (delegated to Microsoft.App/environments; each Flex Consumption plan joins its own subnet).')
param adminSubnetAddressPrefix string = '10.40.2.0/24'

@description('Private-endpoint subnet of the created virtual network.')
param privateEndpointSubnetAddressPrefix string = '10.40.1.0/24'

@description('Hub-and-spoke: resource id of an existing subnet delegated to Microsoft.App/environments for the data-plane app (its egress, e.g. a NAT gateway or the hub firewall, is the subnet owner\'s). Set together with existingAdminAppSubnetId and existingPrivateEndpointSubnetId; empty: the template creates the network.')
param existingAppSubnetId string = ''

@description('Hub-and-spoke: resource id of an existing subnet delegated to Microsoft.App/environments for the admin app.')
param existingAdminAppSubnetId string = ''

@description('Hub-and-spoke: resource id of an existing subnet for the private endpoints.')
param existingPrivateEndpointSubnetId string = ''

@description('Hub-and-spoke: existing private DNS zones by key (blob, table, vault, sites, monitor, oms, ods, agentsvc); the others are created and linked to the network. Hub zones must already be linked to the network that resolves them.')
param existingPrivateDnsZoneIds object = {}

@description('Hub-and-spoke: resource id of the hub\'s Azure Monitor private link scope to join (one scope per DNS). Empty: the template creates one.')
param existingMonitorPrivateLinkScopeId string = ''

@description('Keep Application Insights ingestion open to public networks (Entra ID authentication only, local auth is off) while the apps send through the private link scope. false closes it; the availability test\'s results come from Azure\'s public test agents, check them after deploying (docs/deploy.md).')
param applicationInsightsPublicIngestion bool = true

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

@description('Optional extra layer: App Service authentication (Easy Auth) with the same app registration in front of the admin app. The app checks the tokens itself either way.')
param enableAdminEasyAuth bool = false

@description('Explicitly allow the admin API with the function key alone (no adminAuthClientId). false (default): deploying without an admin app registration fails, so key-only admin is a choice, never an accident.')
param allowKeyOnlyAdmin bool = false

@description('Without networkIsolation: who may reach the admin app from public networks, as CIDR ranges (e.g. 203.0.113.0/24) or service tags (e.g. AzureCloud). Empty: anyone with the key and the token. With networkIsolation the admin app has no public access at all.')
param adminAllowedSources array = []

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

@description('E-mail addresses of the action group the template creates, separated by commas (azd: GATEWAY_ALERT_EMAILS). Required unless existingActionGroupId is set: the deployment fails rather than create alerts that page nobody.')
param alertEmailAddresses string = ''

@description('Alert when more than this percentage of requests in 5 minutes end in a 5xx the gateway itself caused (not a provider\'s).')
@minValue(1)
@maxValue(100)
param gatewayErrorRateThresholdPercent int = 5

@description('Flex Consumption: alert when more than this many 5xx in 15 minutes never reached the gateway\'s code (host or front end failures).')
@minValue(1)
param hostFailuresThreshold int = 5

@description('Alert when one tenant\'s provider calls fail more than this many times in 5 minutes.')
@minValue(1)
param providerErrorsThreshold int = 10

@description('Alert when more than this many token requests fail in 5 minutes (credential guessing).')
@minValue(1)
param tokenFailuresThreshold int = 50

@description('Days the created Log Analytics workspace keeps data interactively (30-730).')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 90

@description('Total days the created workspace keeps the AzureDiagnostics table, where Key Vault\'s AuditEvent lands (interactive for logRetentionInDays, then long-term; up to 4383).')
@minValue(30)
@maxValue(4383)
param auditLogRetentionInDays int = 365

@description('Access control mode of the created workspace: true lets people read only the logs of resources they can read (a reader of the function apps does not see the Key Vault audit); false requires workspace permissions for everything.')
param logAccessResourcePermissionsOnly bool = true

// ---------------------------------------------------------------- derived names
var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName })
var appName = !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}gw-${resourceToken}'
var adminAppName = !empty(adminFunctionAppName) ? adminFunctionAppName : '${abbrs.webSitesFunctions}gwadm-${resourceToken}'
var deploymentContainerName = 'app-package-${take(toLower(appName), 32)}-${take(toLower(uniqueString(appName, resourceToken)), 7)}'
var adminDeploymentContainerName = 'app-package-${take(toLower(adminAppName), 32)}-${take(toLower(uniqueString(adminAppName, resourceToken)), 7)}'
// PUBLIC_BASE_URL must be https without a trailing slash, query or fragment (gateway/config.py refuses anything else
// at start); a wrong publicBaseUrl fails the deployment instead of the app.
var publicBaseUrlIsValid = empty(publicBaseUrl) || (startsWith(publicBaseUrl, 'https://') && length(publicBaseUrl) > 8 && !startsWith(publicBaseUrl, 'https:///') && !startsWith(publicBaseUrl, 'https://:') && !endsWith(publicBaseUrl, '/') && !contains(publicBaseUrl, '?') && !contains(publicBaseUrl, '#') && !contains(publicBaseUrl, ' '))
var checkedPublicBaseUrl = publicBaseUrlIsValid ? publicBaseUrl : fail('publicBaseUrl must be an https URL without a trailing slash, query or fragment')
var baseUrl = !empty(checkedPublicBaseUrl) ? checkedPublicBaseUrl : (!empty(customDomainName) ? 'https://${customDomainName}' : 'https://${appName}.azurewebsites.net')
// The admin API checks Entra ID v2 access tokens itself: issuer https://<login host>/<tenant>/v2.0 (the login host of
// this cloud), audience the client id (v2 access tokens carry the client id as `aud`). Without a registration the
// deployment fails unless key-only admin is an explicit choice (allowKeyOnlyAdmin).
var adminAuthEnabled = !empty(adminAuthClientId)
var adminAuthAuthority = '${environment().authentication.loginEndpoint}${adminAuthTenantId}/v2.0'
var adminAuthAudience = adminAuthEnabled ? adminAuthClientId : (allowKeyOnlyAdmin ? '' : fail('the admin API needs an Entra ID app registration (adminAuthClientId, docs/deploy.md); set allowKeyOnlyAdmin=true to run it on the function key alone'))
var tableNames = [
  '${tableNamePrefix}routes'
  '${tableNamePrefix}clients'
  '${tableNamePrefix}audit'
  '${tableNamePrefix}authfailures'
  '${tableNamePrefix}replay'
]
var isFlex = hostingPlan == 'FlexConsumption'
// Virtual network integration and private endpoints for the apps' outbound traffic need Flex Consumption.
var isolated = networkIsolation ? (isFlex ? true : fail('networkIsolation needs hostingPlan FlexConsumption (Linux Consumption has no virtual network integration)')) : false
var useExistingSubnets = !empty(existingAppSubnetId) || !empty(existingAdminAppSubnetId) || !empty(existingPrivateEndpointSubnetId)
var existingSubnetsChecked = useExistingSubnets && (empty(existingAppSubnetId) || empty(existingAdminAppSubnetId) || empty(existingPrivateEndpointSubnetId)) ? fail('set existingAppSubnetId, existingAdminAppSubnetId and existingPrivateEndpointSubnetId together') : useExistingSubnets
var createNetwork = isolated && !existingSubnetsChecked
var zoneRedundancy = zoneRedundant ? (isFlex ? true : fail('zoneRedundant needs hostingPlan FlexConsumption')) : false
// learn.microsoft.com, "Reliability in Azure Functions": with zone redundancy no fewer than 2 always-ready instances
// can be configured per scale group (0 lets the platform keep 2, billed as always ready).
var alwaysReady = zoneRedundancy && alwaysReadyInstances == 1 ? fail('zoneRedundant needs alwaysReadyInstances 0 or at least 2') : alwaysReadyInstances
var storageSku = zoneRedundancy ? 'Standard_ZRS' : 'Standard_LRS'
var alertEmails = filter(map(split(alertEmailAddresses, ','), address => trim(address)), address => !empty(address))
// Which function folders each app runs; the other app's are disabled (AzureWebJobs.<name>.Disabled).
var dataPlaneFunctions = [
  'metadata_fn'
  'token_fn'
  'fhir_proxy_fn'
]
var adminFunctions = [
  'admin_fn'
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

module adminIdentity 'core/identity/user-assigned-identity.bicep' = {
  name: 'admin-identity'
  scope: rg
  params: {
    name: !empty(adminIdentityName) ? adminIdentityName : '${abbrs.managedIdentityUserAssignedIdentities}gwadm-${resourceToken}'
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
    retentionInDays: logRetentionInDays
    auditLogRetentionInDays: auditLogRetentionInDays
    resourcePermissionsOnly: logAccessResourcePermissionsOnly
    publicIngestion: !isolated || applicationInsightsPublicIngestion
  }
}

// Gateway tables and the data-plane app's host storage and package.
module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: allTags
    containers: [deploymentContainerName]
    tables: tableNames
    skuName: storageSku
    isolated: isolated
  }
}

// The admin app's host storage and package, apart from the data plane's: the data-plane identity holds Blob Data
// Owner on its own account (host storage needs it) and must reach neither the admin app's keys nor its package.
module adminStorage 'core/storage/storage-account.bicep' = {
  name: 'admin-storage'
  scope: rg
  params: {
    name: !empty(adminStorageAccountName) ? adminStorageAccountName : '${abbrs.storageStorageAccounts}adm${resourceToken}'
    location: location
    tags: allTags
    containers: [adminDeploymentContainerName]
    skuName: storageSku
    isolated: isolated
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
    isolated: isolated
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
    zoneRedundant: zoneRedundancy
  }
}

module adminPlan 'core/host/appserviceplan.bicep' = {
  name: 'admin-appserviceplan'
  scope: rg
  params: {
    name: !empty(adminAppServicePlanName) ? adminAppServicePlanName : '${abbrs.webServerFarms}adm-${resourceToken}'
    location: location
    tags: allTags
    hostingPlan: hostingPlan
    zoneRedundant: zoneRedundancy
  }
}

// The network of the private-networking option (or the hub's subnets, existingAppSubnetId).
module network 'core/network/virtual-network.bicep' = if (createNetwork) {
  name: 'network'
  scope: rg
  params: {
    name: '${abbrs.networkVirtualNetworks}${resourceToken}'
    location: location
    tags: allTags
    addressPrefix: virtualNetworkAddressPrefix
    appSubnetPrefix: appSubnetAddressPrefix
    adminSubnetPrefix: adminSubnetAddressPrefix
    privateEndpointSubnetPrefix: privateEndpointSubnetAddressPrefix
    natGatewayName: '${abbrs.networkNatGateways}${resourceToken}'
    publicIpName: '${abbrs.networkPublicIPAddresses}${abbrs.networkNatGateways}${resourceToken}'
  }
}

var appSubnetId = !isolated ? '' : (createNetwork ? network.outputs.appSubnetId : existingAppSubnetId)
var adminSubnetId = !isolated ? '' : (createNetwork ? network.outputs.adminSubnetId : existingAdminAppSubnetId)
var privateEndpointSubnetId = !isolated ? '' : (createNetwork ? network.outputs.privateEndpointSubnetId : existingPrivateEndpointSubnetId)

// Every setting gateway/config.py reads in production (tests/infra keeps this in step with SETTINGS), the same for
// both apps; each app adds its own AZURE_CLIENT_ID (app/api.bicep).
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
  // Entra ID access tokens on the admin API, verified by the app; all three empty only with allowKeyOnlyAdmin.
  ADMIN_AUTH_AUTHORITY: adminAuthEnabled ? adminAuthAuthority : ''
  ADMIN_AUTH_AUDIENCE: adminAuthAudience
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

// The data plane: metadata, token and FHIR proxy, public (SaaS clients on the internet), its identity read-mostly.
module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: appName
    location: location
    tags: allTags
    serviceName: 'api'
    hostingPlan: hostingPlan
    appServicePlanId: plan.outputs.id
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appSettings: gatewayAppSettings
    disabledFunctions: adminFunctions
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    alwaysReadyInstances: alwaysReady
    virtualNetworkSubnetId: appSubnetId
  }
}

// The admin API: its own identity (the only one that writes secrets, keys, routes, clients and audit). With
// networkIsolation it has no public access (its private endpoint only); otherwise adminAllowedSources can limit it.
module adminApi 'app/api.bicep' = {
  name: 'admin-api'
  scope: rg
  params: {
    name: adminAppName
    location: location
    tags: allTags
    serviceName: 'admin'
    hostingPlan: hostingPlan
    appServicePlanId: adminPlan.outputs.id
    storageAccountName: adminStorage.outputs.name
    deploymentContainerName: adminDeploymentContainerName
    identityId: adminIdentity.outputs.id
    identityClientId: adminIdentity.outputs.clientId
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appSettings: gatewayAppSettings
    disabledFunctions: dataPlaneFunctions
    // Administration is rare: the smallest scale-out cap the platform allows, no always-ready instance.
    maximumInstanceCount: 40
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    alwaysReadyInstances: 0
    virtualNetworkSubnetId: adminSubnetId
    publicNetworkAccess: !isolated
    allowedSources: isolated ? [] : adminAllowedSources
  }
}

// All role assignments, in one place, once the apps exist (the CI principal's are scoped to them). A host that starts
// before its roles have propagated retries until they have (docs/deploy.md).
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    dataPrincipalId: identity.outputs.principalId
    adminPrincipalId: adminIdentity.outputs.principalId
    dataStorageAccountName: storage.outputs.name
    adminStorageAccountName: adminStorage.outputs.name
    tableNames: {
      routes: tableNames[0]
      clients: tableNames[1]
      audit: tableNames[2]
      failures: tableNames[3]
      replay: tableNames[4]
    }
    dataDeploymentContainerName: deploymentContainerName
    adminDeploymentContainerName: adminDeploymentContainerName
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    dataAppName: api.outputs.name
    adminAppName: adminApi.outputs.name
    hostingPlan: hostingPlan
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    ciPrincipalId: ciPrincipalId
  }
}

// Private endpoints and DNS: data storage (blob, table), admin storage (blob), Key Vault, the admin app, Azure Monitor.
module privateNetworking 'app/private-networking.bicep' = if (isolated) {
  name: 'private-networking'
  scope: rg
  params: {
    location: location
    tags: allTags
    nameSuffix: resourceToken
    privateEndpointSubnetId: privateEndpointSubnetId
    virtualNetworkId: isolated ? substring(privateEndpointSubnetId, 0, indexOf(privateEndpointSubnetId, '/subnets/')) : ''
    existingPrivateDnsZoneIds: existingPrivateDnsZoneIds
    existingMonitorPrivateLinkScopeId: existingMonitorPrivateLinkScopeId
    dataStorageAccountId: storage.outputs.id
    adminStorageAccountId: adminStorage.outputs.id
    keyVaultId: keyVault.outputs.id
    adminAppId: adminApi.outputs.id
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module adminAuth 'app/auth.bicep' = if (enableAdminEasyAuth) {
  name: 'admin-auth'
  scope: rg
  params: {
    functionAppName: adminApi.outputs.name
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

// Diagnostic logs of both apps, Key Vault (AuditEvent) and the table service into the workspace.
module diagnostics 'core/monitor/diagnostics.bicep' = {
  name: 'diagnostics'
  scope: rg
  params: {
    workspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    functionAppNames: [
      api.outputs.name
      adminApi.outputs.name
    ]
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
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    functionAppIds: [
      api.outputs.id
      adminApi.outputs.id
    ]
    siteMetricsAvailable: isFlex
    keyVaultName: keyVault.outputs.name
    storageAccountName: storage.outputs.name
    metadataUrl: '${baseUrl}/fhir/metadata'
    existingActionGroupId: existingActionGroupId
    alertEmailAddresses: alertEmails
    gatewayErrorRateThresholdPercent: gatewayErrorRateThresholdPercent
    hostFailuresThreshold: hostFailuresThreshold
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
@description('Hosting plan (the CI workflow publishes Consumption apps through the package blob).')
output AZURE_HOSTING_PLAN string = hostingPlan
@description('Data-plane function app name (azd service api).')
output SERVICE_API_NAME string = api.outputs.name
@description('Admin function app name (azd service admin).')
output SERVICE_ADMIN_NAME string = adminApi.outputs.name
@description('Data-plane function app name, for func azure functionapp publish.')
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
@description('Admin function app name, for func azure functionapp publish.')
output AZURE_ADMIN_FUNCTION_APP_NAME string = adminApi.outputs.name
@description('Public base URL (PUBLIC_BASE_URL app setting).')
output PUBLIC_BASE_URL string = baseUrl
@description('FHIR base URL to give the Teams Patients app.')
output FHIR_BASE_URL string = '${baseUrl}/fhir'
@description('OAuth 2.0 token endpoint advertised in the metadata.')
output TOKEN_URL string = '${baseUrl}/oauth2/token'
@description('Base of the admin API on the admin app (function key and, unless allowKeyOnlyAdmin, an Entra ID token); with networkIsolation reachable only from the virtual network.')
output ADMIN_BASE_URL string = '${adminApi.outputs.uri}/manage'
@description('Static public IP of all outbound traffic of the apps with networkIsolation (hospitals allow-list it); empty without it or with existing subnets (their owner\'s egress).')
output OUTBOUND_IP_ADDRESS string = createNetwork ? network.outputs.outboundIpAddress : ''
@description('Virtual network the template created with networkIsolation (add a subnet there for a runner or an operations VM); empty otherwise.')
output AZURE_VIRTUAL_NETWORK_NAME string = createNetwork ? '${abbrs.networkVirtualNetworks}${resourceToken}' : ''
@description('Key Vault URI (KEY_VAULT_URL).')
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri
@description('Key Vault name.')
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
@description('Storage account of the gateway tables and the data-plane app.')
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
@description('Storage account of the admin app.')
output AZURE_ADMIN_STORAGE_ACCOUNT_NAME string = adminStorage.outputs.name
@description('Deployment package container of the data-plane app (Consumption publish path).')
output AZURE_DEPLOYMENT_CONTAINER_NAME string = deploymentContainerName
@description('Deployment package container of the admin app (Consumption publish path).')
output AZURE_ADMIN_DEPLOYMENT_CONTAINER_NAME string = adminDeploymentContainerName
@description('Table endpoint (TABLES_ENDPOINT).')
output AZURE_TABLES_ENDPOINT string = storage.outputs.tableEndpoint
@description('Client id of the data-plane app\'s user-assigned identity (grant it roles on Azure FHIR services of managedIdentity routes).')
output AZURE_CLIENT_ID string = identity.outputs.clientId
@description('Object id of the data-plane app\'s identity.')
output AZURE_PRINCIPAL_ID_DATA_PLANE string = identity.outputs.principalId
@description('Client id of the admin app\'s user-assigned identity.')
output AZURE_ADMIN_CLIENT_ID string = adminIdentity.outputs.clientId
@description('Application Insights connection string (not a secret: ingestion requires Entra ID).')
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
@description('Log Analytics workspace holding the telemetry and the diagnostic logs.')
output AZURE_LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.logAnalyticsWorkspaceId
@description('Authority of the admin API\'s Entra ID tokens (ADMIN_AUTH_AUTHORITY); empty without adminAuthClientId.')
output ADMIN_AUTH_AUTHORITY string = adminAuthEnabled ? adminAuthAuthority : ''
