metadata description = 'Azure Monitor private link scope (AMPLS): created, or an existing one joined (hub-and-spoke: one AMPLS per DNS), with the Application Insights component and the Log Analytics workspace as scoped resources.'

@description('Name of the private link scope (to create, or the existing one in this resource group).')
param name string

@description('true: create the scope; false: join the existing scope of that name (deploy this module in its resource group).')
param create bool = true

@description('Tags of a created scope.')
param tags object = {}

@description('Resource ids of the Application Insights component and the Log Analytics workspace.')
param linkedResourceIds array

@description('Ingestion access mode of a created scope: PrivateOnly (networks using the scope\'s DNS reach only scoped resources) or Open.')
@allowed([
  'PrivateOnly'
  'Open'
])
param ingestionAccessMode string = 'Open'

// learn.microsoft.com, "Design your Private Link setup": access modes per scope; queries stay Open so the portal,
// workbooks and alerts keep reading the data.
resource scope 'Microsoft.Insights/privateLinkScopes@2021-07-01-preview' = if (create) {
  name: name
  location: 'global'
  tags: tags
  properties: {
    accessModeSettings: {
      ingestionAccessMode: ingestionAccessMode
      queryAccessMode: 'Open'
    }
  }
}

resource scopedResources 'Microsoft.Insights/privateLinkScopes/scopedResources@2021-07-01-preview' = [for linkedId in linkedResourceIds: {
  name: '${name}/scoped-${uniqueString(linkedId)}'
  properties: {
    linkedResourceId: linkedId
  }
  dependsOn: [
    scope
  ]
}]

output id string = create ? scope.id : resourceId('Microsoft.Insights/privateLinkScopes', name)
