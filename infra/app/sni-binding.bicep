metadata description = 'Enables SNI TLS on an existing host name binding with the given certificate thumbprint.'

@description('Function app name.')
param functionAppName string

@description('Custom domain.')
param domainName string

@description('Thumbprint of the managed certificate.')
param thumbprint string

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource binding 'Microsoft.Web/sites/hostNameBindings@2024-04-01' = {
  parent: site
  name: domainName
  properties: {
    siteName: functionAppName
    hostNameType: 'Verified'
    sslState: 'SniEnabled'
    thumbprint: thumbprint
  }
}
