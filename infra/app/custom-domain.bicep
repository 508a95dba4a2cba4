metadata description = 'Optional custom domain with a free App Service managed certificate: site-scoped on Flex Consumption, next to the plan on Consumption; SNI TLS binding that redeployments keep.'

@description('Function app name.')
param functionAppName string

@description('Resource id of the App Service plan.')
param appServicePlanId string

@description('FlexConsumption or Consumption: where the managed certificate lives.')
@allowed([
  'FlexConsumption'
  'Consumption'
])
param hostingPlan string

@description('Custom domain, e.g. fhir.example.org. DNS first: CNAME to <app>.azurewebsites.net and TXT asuid.<domain> = the app\'s customDomainVerificationId.')
param domainName string

@description('false on the first deployment (bind without TLS, issue the certificate, enable SNI); true afterwards, so the TLS binding is never re-created without TLS.')
param certificateIssued bool = false

@description('Region.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

var isFlex = hostingPlan == 'FlexConsumption'
var certificateName = '${domainName}-${functionAppName}'

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// First deployment only: bind the host name without TLS (a managed certificate needs an existing binding).
// Declaring it on every deployment would switch TLS off on the live binding until the SNI step below ran again.
resource binding 'Microsoft.Web/sites/hostNameBindings@2024-04-01' = if (!certificateIssued) {
  parent: site
  name: domainName
  properties: {
    siteName: functionAppName
    hostNameType: 'Verified'
    sslState: 'Disabled'
  }
}

// Flex Consumption keeps certificates on the site (site-scoped certificates); a resource-group certificate
// cannot be bound there.
resource siteCertificate 'Microsoft.Web/sites/certificates@2024-11-01' = if (isFlex) {
  parent: site
  name: certificateName
  location: location
  tags: tags
  dependsOn: [
    binding
  ]
  properties: {
    serverFarmId: appServicePlanId
    canonicalName: domainName
  }
}

// Consumption (Y1): the managed certificate lives in the resource group, next to the plan.
resource planCertificate 'Microsoft.Web/certificates@2024-04-01' = if (!isFlex) {
  name: certificateName
  location: location
  tags: tags
  dependsOn: [
    binding
  ]
  properties: {
    serverFarmId: appServicePlanId
    canonicalName: domainName
  }
}

// SNI TLS with the certificate's current thumbprint (a separate module: a template cannot declare the same
// binding twice). Managed certificates renew in place; each deployment reads the current thumbprint.
module sni 'sni-binding.bicep' = {
  name: 'sni-${uniqueString(domainName)}'
  params: {
    functionAppName: functionAppName
    domainName: domainName
    thumbprint: isFlex ? siteCertificate.properties.thumbprint : planCertificate.properties.thumbprint
  }
}

output baseUrl string = 'https://${domainName}'
