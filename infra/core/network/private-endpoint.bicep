metadata description = 'A private endpoint for one sub-resource (group id) of a resource, with its DNS records written to the given private DNS zones.'

@description('Private endpoint name.')
param name string

@description('Region (the virtual network\'s).')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

@description('Resource id of the private-endpoint subnet.')
param subnetId string

@description('Resource id of the resource the endpoint connects to.')
param targetResourceId string

@description('Sub-resource (group id): blob, table, vault, sites or azuremonitor.')
param groupId string

@description('Resource ids of the private DNS zones that receive the endpoint\'s A records.')
param privateDnsZoneIds array

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: targetResourceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }

  resource zoneGroup 'privateDnsZoneGroups' = {
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [for (zoneId, index) in privateDnsZoneIds: {
        name: 'zone-${index}'
        properties: {
          privateDnsZoneId: zoneId
        }
      }]
    }
  }
}

output id string = endpoint.id
