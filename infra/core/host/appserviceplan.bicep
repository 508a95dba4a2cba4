metadata description = 'Linux App Service plan for the function app: Flex Consumption (FC1) or Consumption (Y1).'

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

var sku = hostingPlan == 'FlexConsumption' ? {
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
  kind: hostingPlan == 'FlexConsumption' ? 'functionapp' : 'linux'
  sku: sku
  properties: {
    reserved: true // Linux
  }
}

output id string = plan.id
output name string = plan.name
