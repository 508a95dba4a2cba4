metadata description = 'Virtual network of the private-networking option: a subnet per function app, each delegated to Microsoft.App/environments (Flex Consumption virtual network integration) behind a NAT gateway with one static public IP, and a private-endpoint subnet.'

@description('Virtual network name.')
param name string

@description('Region.')
param location string = resourceGroup().location

@description('Resource tags.')
param tags object = {}

@description('Address space of the virtual network.')
param addressPrefix string = '10.40.0.0/16'

@description('Subnet of the data-plane app\'s instances; /26 or larger leaves room to scale out.')
param appSubnetPrefix string = '10.40.0.0/24'

@description('Subnet of the admin app\'s instances (each Flex Consumption plan joins its own subnet).')
param adminSubnetPrefix string = '10.40.2.0/24'

@description('Private-endpoint subnet (storage, Key Vault, the admin app, Azure Monitor).')
param privateEndpointSubnetPrefix string = '10.40.1.0/24'

@description('NAT gateway name.')
param natGatewayName string

@description('Name of the static public IP every outbound connection of the apps uses.')
param publicIpName string

var appSubnetName = 'snet-app'
var adminSubnetName = 'snet-admin'
// learn.microsoft.com, "Flex Consumption plan hosting", Considerations: the subnet delegation Flex Consumption apps
// need is Microsoft.App/environments (the Microsoft.App provider must be registered).
var flexDelegation = [
  {
    name: 'flex-consumption'
    properties: {
      serviceName: 'Microsoft.App/environments'
    }
  }
]
var privateEndpointSubnetName = 'snet-private-endpoints'

// One static address for everything the apps send out (providers, client JWKS URLs): hospitals allow-list it.
resource publicIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: publicIpName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Regional'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

// learn.microsoft.com, "Tutorial: Control Azure Functions outbound IP with an Azure virtual network NAT gateway":
// a NAT gateway on the integration subnet becomes the subnet's default route to the internet.
resource natGateway 'Microsoft.Network/natGateways@2024-05-01' = {
  name: natGatewayName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    idleTimeoutInMinutes: 4
    publicIpAddresses: [
      {
        id: publicIp.id
      }
    ]
  }
}

// No inbound rule of our own: the defaults deny inbound from the internet and allow traffic inside the network.
resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: flexDelegation
          natGateway: {
            id: natGateway.id
          }
          networkSecurityGroup: {
            id: nsg.id
          }
        }
      }
      {
        name: adminSubnetName
        properties: {
          addressPrefix: adminSubnetPrefix
          delegations: flexDelegation
          natGateway: {
            id: natGateway.id
          }
          networkSecurityGroup: {
            id: nsg.id
          }
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
          networkSecurityGroup: {
            id: nsg.id
          }
        }
      }
    ]
  }
}

output id string = vnet.id
output appSubnetId string = '${vnet.id}/subnets/${appSubnetName}'
output adminSubnetId string = '${vnet.id}/subnets/${adminSubnetName}'
output privateEndpointSubnetId string = '${vnet.id}/subnets/${privateEndpointSubnetName}'
output outboundIpAddress string = publicIp.properties.ipAddress
