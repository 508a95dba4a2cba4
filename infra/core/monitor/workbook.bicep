metadata description = 'Azure Monitor workbook with the per-tenant views of the gateway (docs/operations.md), linked to the Application Insights component.'

@description('Display name of the workbook.')
param displayName string

@description('Region.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

@description('Application Insights component the workbook queries.')
param applicationInsightsName string

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // Workbook names are GUIDs; a stable one so redeployments update the same workbook.
  name: guid(appInsights.id, 'gateway-tenants-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsights.id
    // The workbook opens on this component: its fallbackResourceIds is the component's id (the file leaves it out).
    serializedData: string(union(loadJsonContent('gateway-workbook.json'), {
      fallbackResourceIds: [
        appInsights.id
      ]
    }))
  }
}

output id string = workbook.id
