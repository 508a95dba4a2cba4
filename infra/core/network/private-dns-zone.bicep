metadata description = 'A private DNS zone linked to one virtual network (auto-registration off), for the records of private endpoints.'

@description('Zone name, e.g. privatelink.blob.core.windows.net.')
param name string

@description('Resource id of the virtual network that resolves through the zone.')
param virtualNetworkId string

@description('Resource tags.')
param tags object = {}

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: name
  location: 'global'
  tags: tags

  resource link 'virtualNetworkLinks' = {
    name: 'link-${uniqueString(virtualNetworkId)}'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: virtualNetworkId
      }
    }
  }
}

output id string = zone.id
