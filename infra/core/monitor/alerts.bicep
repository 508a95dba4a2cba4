metadata description = 'Alert rules of the gateway, each notifying one action group that has receivers: the gateway\'s own failures, provider failures per tenant, token failure spikes, requests that never reached the app, Key Vault and Table throttling, and a /fhir/metadata availability test. Queries: queries/*.kql, written against the telemetry contract in docs/operations.md; counts never rely on sampled rows alone.'

@description('Prefix of the alert rule names (the function app name).')
param namePrefix string

@description('Region of the availability test.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

@description('Application Insights component (log alerts, availability test).')
param applicationInsightsName string

@description('Log Analytics workspace of the component and the diagnostic settings (the host-failure alert).')
param logAnalyticsWorkspaceId string

@description('Resource ids of the function apps (their front end\'s Http5xx metric).')
param functionAppIds array

@description('Whether the apps emit Microsoft.Web/sites metrics (Flex Consumption yes, Linux Consumption no): the host-failure alert needs them.')
param siteMetricsAvailable bool

@description('Key Vault (throttling alert).')
param keyVaultName string

@description('Storage account (table throttling alert).')
param storageAccountName string

@description('Public URL of the FHIR metadata endpoint probed by the availability test.')
param metadataUrl string

@description('Resource id of an existing action group. Empty: one is created with alertEmailAddresses.')
param existingActionGroupId string = ''

@description('E-mail receivers of the created action group; at least one unless existingActionGroupId is set (an action group without receivers pages nobody).')
param alertEmailAddresses array = []

@description('Percentage of requests in 5 minutes the gateway itself answered with a 5xx that fires the gateway error alert.')
@minValue(1)
@maxValue(100)
param gatewayErrorRateThresholdPercent int = 5

@description('5xx answers in 15 minutes that never reached the gateway\'s code that fire the host-failure alert.')
@minValue(1)
param hostFailuresThreshold int = 5

@description('Failed provider calls of one tenant in 5 minutes that fire the provider alert.')
@minValue(1)
param providerErrorsThreshold int = 10

@description('Refused token requests in 5 minutes that fire the credential-guessing alert.')
@minValue(1)
param tokenFailuresThreshold int = 50

@description('Availability test locations (Application Insights location ids).')
param availabilityTestLocations array = [
  'emea-nl-ams-azr'
  'emea-gb-db3-azr'
  'us-va-ash-azr'
  'us-ca-sjc-azr'
  'apac-sg-sin-azr'
]

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource tableService 'tableServices' existing = {
    name: 'default'
  }
}

var receivers = empty(existingActionGroupId) && empty(alertEmailAddresses) ? fail('alerts need someone to reach: set alertEmailAddresses or existingActionGroupId') : alertEmailAddresses

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (empty(existingActionGroupId)) {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'gateway'
    enabled: true
    emailReceivers: [for (address, index) in receivers: {
      name: 'email-${index}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
  }
}

var actionGroupId = empty(existingActionGroupId) ? actionGroup.id : existingActionGroupId

// Log alerts on the Application Insights telemetry (requests, customMetrics), evaluated every 5 minutes
// over the last 5 minutes.
var logAlerts = [
  {
    key: 'gateway-error-rate'
    displayName: 'Gateway errors (its own)'
    description: 'More than the threshold percentage of requests ended in a 5xx the gateway itself caused (stores, bugs); providers\' failures are the per-tenant alert\'s (docs/operations.md).'
    severity: 1
    query: loadTextContent('queries/gateway-errors.kql')
    measure: 'gatewayErrorPercent'
    threshold: gatewayErrorRateThresholdPercent
    dimensions: []
  }
  {
    key: 'provider-failures-per-tenant'
    displayName: 'Provider failures per tenant'
    description: 'A tenant\'s FHIR server keeps failing (timeouts, connection errors, 5xx); one alert per tenant.'
    severity: 2
    query: loadTextContent('queries/provider-errors-by-tenant.kql')
    measure: 'providerErrors'
    threshold: providerErrorsThreshold
    dimensions: [
      {
        name: 'tenant'
        operator: 'Include'
        values: [
          '*'
        ]
      }
    ]
  }
  {
    key: 'token-failure-spike'
    displayName: 'Token failure spike'
    description: 'Many refused token requests: someone may be guessing client credentials.'
    severity: 2
    query: loadTextContent('queries/token-failures.kql')
    measure: 'failedTokenRequests'
    threshold: tokenFailuresThreshold
    dimensions: []
  }
]

resource logAlertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in logAlerts: {
  name: '${namePrefix}-${rule.key}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Maximum'
          metricMeasureColumn: rule.measure
          dimensions: rule.dimensions
          operator: 'GreaterThan'
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroupId
      ]
    }
  }
}]

// Requests that never reached the gateway's code: the apps' front-end Http5xx beyond the 5xx the gateway recorded,
// over the workspace (AzureMetrics from the apps' diagnostic settings, AppRequests from Application Insights), every
// 5 minutes over 15 (metrics reach the workspace a few minutes late).
var hostFailuresQuery = replace(replace(loadTextContent('queries/host-failures.kql'), '{apps}', string(map(functionAppIds, id => toLower(id)))), '{component}', toLower(appInsights.id))

resource hostFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = if (siteMetricsAvailable) {
  name: '${namePrefix}-host-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Requests that never reached the app'
    description: 'The front end answered 5xx that the gateway never saw: instances failing to start, worker crashes, timeouts, no capacity (docs/operations.md).'
    severity: 1
    enabled: true
    scopes: [
      logAnalyticsWorkspaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: hostFailuresQuery
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'hostFailures'
          dimensions: []
          operator: 'GreaterThan'
          threshold: hostFailuresThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroupId
      ]
    }
  }
}

// Key Vault throttling: any call answered 429 (the vault's service limits) in 5 minutes.
resource keyVaultThrottling 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-key-vault-throttling'
  location: 'global'
  tags: tags
  properties: {
    description: 'Key Vault answered 429: the gateway is over the vault\'s service limits (caches serve meanwhile, stale-if-error).'
    severity: 2
    enabled: true
    scopes: [
      vault.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'throttled'
          metricNamespace: 'Microsoft.KeyVault/vaults'
          metricName: 'ServiceApiResult'
          dimensions: [
            {
              name: 'StatusCode'
              operator: 'Include'
              values: [
                '429'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroupId
      }
    ]
  }
}

// Table throttling: table transactions refused as throttled or server busy in 5 minutes.
resource tableThrottling 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-table-throttling'
  location: 'global'
  tags: tags
  properties: {
    description: 'Table Storage throttled the gateway (ClientThrottlingError, ServerBusyError).'
    severity: 2
    enabled: true
    scopes: [
      storage::tableService.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'throttled'
          metricNamespace: 'Microsoft.Storage/storageAccounts/tableServices'
          metricName: 'Transactions'
          dimensions: [
            {
              name: 'ResponseType'
              operator: 'Include'
              values: [
                'ClientThrottlingError'
                'ServerBusyError'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroupId
      }
    ]
  }
}

// Health check: a standard availability test fetching /fhir/metadata (no credentials needed) every 5 minutes
// from several regions; it fails on a non-200 answer or a TLS certificate about to expire.
resource metadataTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: '${namePrefix}-fhir-metadata'
  location: location
  tags: union(tags, {
    'hidden-link:${appInsights.id}': 'Resource'
  })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: '${namePrefix}-fhir-metadata'
    Name: 'FHIR metadata'
    Description: 'GET /fhir/metadata answers 200 over valid TLS.'
    Enabled: true
    Frequency: 300
    Timeout: 30
    Kind: 'standard'
    RetryEnabled: true
    Locations: [for locationId in availabilityTestLocations: {
      Id: locationId
    }]
    Request: {
      RequestUrl: metadataUrl
      HttpVerb: 'GET'
      ParseDependentRequests: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      IgnoreHttpStatusCode: false
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

resource metadataTestAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-fhir-metadata-unavailable'
  location: 'global'
  tags: union(tags, {
    'hidden-link:${appInsights.id}': 'Resource'
    'hidden-link:${metadataTest.id}': 'Resource'
  })
  properties: {
    description: '/fhir/metadata failed from two or more test locations.'
    severity: 1
    enabled: true
    scopes: [
      metadataTest.id
      appInsights.id
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: metadataTest.id
      componentId: appInsights.id
      failedLocationCount: 2
    }
    actions: [
      {
        actionGroupId: actionGroupId
      }
    ]
  }
}

output actionGroupId string = actionGroupId
output availabilityTestId string = metadataTest.id
