metadata description = 'Linux App Service plan for one function app: Flex Consumption (FC1, one app per plan) or Consumption (Y1); zone redundant on FC1 where the region offers it.'

@description('Plan name.')
param name string

@description('Region.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

@description('FlexConsumption (FC1) or Consumption (Y1).')
@allowed([
  'FlexConsumption'
  'Consumption'
])
param hostingPlan string = 'FlexConsumption'

@description('Flex Consumption only: spread the app\'s instances over availability zones (learn.microsoft.com, "Reliability in Azure Functions": properties.zoneRedundant on the FC1 plan; the region must offer it, `az functionapp list-flexconsumption-locations --zone-redundant=true`). Consumption (Y1) has no zone redundancy.')
param zoneRedundant bool = false

var isFlex = hostingPlan == 'FlexConsumption'

var sku = isFlex ? {
  name: 'FC1'
  tier: 'FlexConsumption'
} : {
  name: 'Y1'
  tier: 'Dynamic'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'linux'
  sku: sku
  properties: {
    reserved: true // Linux
    zoneRedundant: isFlex ? zoneRedundant : (zoneRedundant ? fail('zoneRedundant needs hostingPlan FlexConsumption') : false)
  }
}

output id string = plan.id
output name string = plan.name
