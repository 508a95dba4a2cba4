metadata description = 'Optional custom domain with a free App Service managed certificate (bind, issue the certificate, then enable SNI).'

@description('Function app name.')
param functionAppName string

@description('Resource id of the App Service plan (the certificate lives next to it).')
param appServicePlanId string

@description('Custom domain, e.g. fhir.example.org. DNS first: CNAME to <app>.azurewebsites.net and TXT asuid.<domain> = the app\'s customDomainVerificationId.')
param domainName string

@description('Region.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// Step 1: bind the host name without TLS (the managed certificate needs an existing binding).
resource binding 'Microsoft.Web/sites/hostNameBindings@2024-04-01' = {
  parent: site
  name: domainName
  properties: {
    siteName: functionAppName
    hostNameType: 'Verified'
    sslState: 'Disabled'
  }
}

// Step 2: a free managed certificate for the host name.
resource certificate 'Microsoft.Web/certificates@2024-04-01' = {
  name: '${domainName}-${functionAppName}'
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

// Step 3: re-bind with SNI TLS (a separate module: a template cannot declare the same resource twice).
module sni 'sni-binding.bicep' = {
  name: 'sni-${uniqueString(domainName)}'
  params: {
    functionAppName: functionAppName
    domainName: domainName
    thumbprint: certificate.properties.thumbprint
  }
}

output baseUrl string = 'https://${domainName}'
