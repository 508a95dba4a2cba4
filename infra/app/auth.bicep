metadata description = 'Optional App Service authentication (Easy Auth, Entra ID) in front of the admin API, as an extra layer: the admin function verifies the Entra ID token and its app role itself (ADMIN_AUTH_AUTHORITY, ADMIN_AUTH_AUDIENCE, ADMIN_REQUIRED_ROLE). Anonymous requests pass through so the FHIR and token routes stay reachable.'

@description('Function app name.')
param functionAppName string

@description('Client id of the Entra app registration protecting the admin API (its app roles include ADMIN_REQUIRED_ROLE).')
@minLength(1)
param clientId string

@description('Entra tenant issuing the admin tokens.')
param tenantId string = tenant().tenantId

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
      // The FHIR and token routes carry the gateway's own bearer tokens, not Entra tokens: keep Easy Auth out of them.
      excludedPaths: [
        '/fhir'
        '/fhir/*'
        '/oauth2/*'
      ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          // The login host of the cloud deployed to (public, sovereign), never a hard-coded one.
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${clientId}'
            clientId
          ]
        }
        login: {
          disableWWWAuthenticate: false
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}
