"""SSRF: provider URLs aimed at loopback, link-local, metadata services, private and CGNAT ranges,
IPv4-mapped IPv6 and legacy numeric IPv4 forms are refused in production when the route is saved
(admin API), before each forward, and at connect time on the resolved address (DNS names, DNS
rebinding); ``privateNetwork`` opens private ranges but never a metadata service."""

from __future__ import annotations

import json

import pytest

from gateway.admin.actor import Actor
from gateway.admin.problems import Problem
from gateway.admin.tenant_routes import RouteSpec
from gateway.http import Headers, Request
from gateway.outbound.transport import AiohttpTransport
from gateway.services import memory_services
from gateway.upstream.client_credentials import ClientCredentialsAuth
from tests.fixtures.common import make_settings
from tests.fixtures.leaks import register_sensitive
from tests.fixtures.provider import Reply, connect
from tests.integration.test_proxy_destinations import PRODUCTION, StaticResolver
from tests.support.constants import TENANT_A, TENANT_B
from tests.support.fhir import request
from tests.support.surfaces import dispatch, proxy
from tests.support.vault import deployment_secret

pytestmark = pytest.mark.integration

ADMIN = Actor("security-suite")
GW = "https://gw.example"

REFUSED_HOSTS = [
    "127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "localhost.", "api.localhost", "127.0.0.1.",
    "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:a9fe:a9fe]", "[::127.0.0.1]",
    "169.254.169.254", "169.254.1.1", "[fe80::1]", "[fe80::1%25eth0]", "168.63.129.16", "[fd00:ec2::254]",
    "10.0.0.1", "10.255.255.254", "172.16.0.1", "172.31.255.255", "192.168.0.1", "192.168.255.255",
    "100.64.0.1", "100.127.255.254", "[fc00::1]", "[fd12:3456::1]", "0.0.0.0", "[::]", "224.0.0.1",
    "240.0.0.1", "255.255.255.255",
    # what inet_aton (and so the resolver) makes of legacy numeric forms
    "2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001", "017700000001", "127.1", "0x7F.0.0.1",
    "2852039166", "0xa9.0xfe.0xa9.0xfe", "0251.0376.0251.0376", "10.1", "0xa.0.0.1", "3232235521",
]
METADATA_HOSTS = ["169.254.169.254", "[fd00:ec2::254]", "168.63.129.16", "[::ffff:169.254.169.254]",
                  "2852039166", "0xa9fea9fe", "169.254.169.254."]


@pytest.fixture
async def production(clock):
    svc = memory_services(make_settings(**PRODUCTION), clock)
    yield svc
    await svc.aclose()


def spec(url: str, **fields) -> RouteSpec:
    return RouteSpec(fhir_base_url=url, fhir_version="STU3", **fields)


@pytest.mark.parametrize("host", REFUSED_HOSTS)
async def test_refused_hosts_cannot_be_saved_in_production(production, host):
    with pytest.raises(Problem) as info:
        await production.admin_api.routes.put(ADMIN, TENANT_A, spec(f"https://{host}/fhir"))
    assert info.value.status == 422
    assert [e.field for e in info.value.errors] == ["fhirBaseUrl"]
    assert await production.routes.get(TENANT_A) is None


@pytest.mark.parametrize("host", METADATA_HOSTS)
async def test_metadata_services_are_refused_even_for_private_network_routes(production, host):
    with pytest.raises(Problem) as info:
        await production.admin_api.routes.put(ADMIN, TENANT_A, spec(f"https://{host}/fhir", private_network=True))
    assert "metadata" in info.value.errors[0].message


async def test_private_network_routes_may_name_private_addresses_only(production):
    for host in ("10.0.0.1", "172.16.0.1", "192.168.1.10", "100.64.0.1", "[fd12:3456::1]", "0x0a.1"):
        route, _ = await production.admin_api.routes.put(ADMIN, TENANT_A,
                                                         spec(f"https://{host}/fhir", private_network=True))
        assert route.private_network


async def test_the_provider_token_url_obeys_the_same_rules(production):
    secret = "provider-secret-Zq8d1x9"
    register_sensitive(secret)
    with pytest.raises(Problem) as info:
        await production.admin_api.routes.put(ADMIN, TENANT_A, spec(
            "https://ehr.hospital.example/fhir",
            upstream=ClientCredentialsAuth(token_url="https://169.254.169.254/metadata/identity/oauth2/token",
                                           client_id="gw"),
            upstream_secret=secret))
    assert [e.field for e in info.value.errors] == ["upstreamAuth/tokenUrl"]
    assert secret not in json.dumps(info.value.to_json("r"))
    # nothing written before the refusal (the vault holds the deployment's signing key from the start)
    assert [s for s in await production.secrets.list() if not deployment_secret(s.name)] == []


async def test_the_admin_api_answers_a_problem_that_does_not_echo_the_url(production):
    body = json.dumps({"fhirBaseUrl": "https://0x7f.1/fhir", "fhirVersion": "STU3"}).encode()
    response = await dispatch(Request("PUT", f"{GW}/manage/routes/{TENANT_A}",
                                      Headers({"Content-Type": "application/json"}),
                                      route_params={"path": f"routes/{TENANT_A}"}, body=body), production)
    assert response.status == 422
    problem = json.loads(response.body)
    assert problem["errors"][0]["field"] == "fhirBaseUrl" and "0x7f" not in response.body.decode()


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.0.0.1.", "[::ffff:127.0.0.1]"])
async def test_a_stored_route_naming_a_refused_address_is_refused_before_each_forward(production, provider, host):
    """A route written to the store some other way (older rules, a restore) is checked again at forward time."""
    token = await connect(production, TENANT_A, f"https://{host}:{provider.port}/stu3")
    response = await proxy(request("GET", f"{GW}/fhir/Patient/1", token), production)
    assert response.status == 502 and "not allowed" in response.body.decode()
    assert provider.requests == []


@pytest.mark.parametrize("addresses", [
    ("127.0.0.1",), ("127.53.53.53",), ("::1",), ("::ffff:127.0.0.1",), ("169.254.169.254",), ("fd00:ec2::254",),
    ("168.63.129.16",), ("fe80::1",), ("10.1.2.3",), ("172.20.0.5",), ("192.168.0.10",), ("100.100.100.200",),
    ("fc00::5",), ("0.0.0.0",), ("203.0.113.10", "10.0.0.1"),
])
async def test_names_resolving_to_refused_addresses_are_refused_at_connect_time(production, provider, addresses):
    """e.g. ``metadata.google.internal``-style names: only the resolved address tells."""
    resolver = StaticResolver(*addresses)
    production.use_transport(AiohttpTransport(production.settings, resolver=resolver))
    route, _ = await production.admin_api.routes.put(ADMIN, TENANT_A, spec(f"https://metadata.internal.example:{provider.port}/stu3"))
    token = await connect(production, TENANT_B, route.fhir_base_url)  # saved fine: a name, not an address
    response = await proxy(request("GET", f"{GW}/fhir/Patient/1", token), production)
    assert response.status == 502 and "not allowed" in response.body.decode()
    assert resolver.asked and provider.requests == []


async def test_dns_rebinding_after_the_route_was_saved_is_refused_on_the_next_connection(clock, provider):
    """The name pointed at an allowed address when the route was saved and first used, then re-points
    at the metadata service / a private address: every new connection checks the new answer."""
    services = memory_services(make_settings(), clock)  # development: loopback is the "allowed" address here
    try:
        resolver = StaticResolver("127.0.0.1")
        transport = services.use_transport(AiohttpTransport(services.settings, resolver=resolver))
        await services.admin_api.routes.put(ADMIN, TENANT_A, spec(f"http://ehr.rebind.example:{provider.port}/stu3"))
        token = await connect(services, TENANT_B, f"http://ehr.rebind.example:{provider.port}/stu3")
        assert (await proxy(request("GET", "/Patient/1", token), services)).status == 200
        for rebound in ("169.254.169.254", "10.0.0.8"):
            resolver.addresses = (rebound,)
            await transport.aclose()  # a new connection (pool expiry, another worker): resolved afresh
            response = await proxy(request("GET", "/Patient/1", token), services)
            assert response.status == 502 and "not allowed" in response.body.decode()
        assert [r.path for r in provider.requests] == ["/stu3/metadata", "/stu3/Patient/1"]  # the save read metadata
    finally:
        await services.aclose()


async def test_provider_redirects_are_never_followed(services, provider):
    """A provider (or whoever controls it) answering 3xx towards the metadata service gets no second request."""
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    provider.script = lambda r, s: Reply(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == 302
    assert [r.path for r in provider.requests] == ["/stu3/Patient/1"]


WRAPPED_METADATA = ["64:ff9b::a9fe:a9fe", "64:ff9b::169.254.169.254", "2001:0:4136:e378:8000:63bf:5601:5601",
                    "169.254.170.2", "64:ff9b::a9fe:aa02", "2002:a9fe:a9fe::1"]


@pytest.mark.parametrize("address", WRAPPED_METADATA)
async def test_wrapped_metadata_addresses_are_refused_on_private_network_routes(production, provider, address):
    """NAT64 (64:ff9b::/96) and Teredo carry the metadata service's IPv4 address; so does ECS's 169.254.170.2.
    Refused when the route is saved and when a name resolves to one of them."""
    with pytest.raises(Problem) as info:
        await production.admin_api.routes.put(ADMIN, TENANT_A, spec(f"https://[{address}]/fhir" if ":" in address
                                                              else f"https://{address}/fhir", private_network=True))
    assert [(e.field, e.message) for e in info.value.errors] == [
        ("fhirBaseUrl", "the address of a cloud metadata service is never allowed")]
    resolver = StaticResolver(address)
    production.use_transport(AiohttpTransport(production.settings, resolver=resolver))
    route, _ = await production.admin_api.routes.put(ADMIN, TENANT_A, spec(f"https://ehr.vnet.example:{provider.port}/stu3",
                                                                     private_network=True))
    token = await connect(production, TENANT_B, route.fhir_base_url, private_network=True)
    response = await proxy(request("GET", f"{GW}/fhir/Patient/1", token), production)
    assert response.status == 502 and "not allowed" in response.body.decode()
    assert resolver.asked and provider.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "[::]", "169.254.10.10", "[fe80::1]",
                                  "224.0.0.1", "240.0.0.1", "192.0.2.10", "[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]"])
async def test_private_network_does_not_open_loopback_unspecified_link_local_or_reserved(production, host):
    """``privateNetwork`` is for a hospital's private link (RFC 1918, fc00::/7, CGNAT), never the gateway's own host."""
    with pytest.raises(Problem) as info:
        await production.admin_api.routes.put(ADMIN, TENANT_A, spec(f"https://{host}/fhir", private_network=True))
    assert info.value.status == 422 and [e.field for e in info.value.errors] == ["fhirBaseUrl"]
    assert await production.routes.get(TENANT_A) is None


# -- the metadata read of a save (gateway.admin.provider_metadata): the proxy's destination rules, no credentials

@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254", "10.0.0.8", "::1", "fd00:ec2::254"])
async def test_the_metadata_read_at_save_never_connects_to_a_refused_address(production, provider, address):
    resolver = StaticResolver(address)
    production.use_transport(AiohttpTransport(production.settings, resolver=resolver))
    saved = await production.admin_api.routes.save(ADMIN, TENANT_A,
                                                   spec(f"https://ehr.rebind.example:{provider.port}/stu3"))
    assert saved.check.status == "unverified" and "address is one the gateway does not call" in saved.check.detail
    assert resolver.asked == ["ehr.rebind.example"] and provider.requests == []


async def test_private_network_lets_the_metadata_read_try_a_private_address(production):
    resolver = StaticResolver("10.0.0.8")
    production.use_transport(AiohttpTransport(production.settings, resolver=resolver))
    saved = await production.admin_api.routes.save(ADMIN, TENANT_A, spec("https://ehr.vnet.example/fhir",
                                                                        private_network=True))
    assert saved.check.status == "unverified" and "address" not in saved.check.detail  # tried, not refused


async def test_the_metadata_read_follows_no_redirect(services, provider):
    provider.script = lambda r, s: Reply(status=302, headers={"Location": "http://169.254.169.254/metadata"})
    saved = await services.admin_api.routes.save(ADMIN, TENANT_A, spec(provider.base("/stu3")))
    assert saved.check.detail == "the provider's metadata answered HTTP 302"
    assert [r.path for r in provider.requests] == ["/stu3/metadata"]


async def test_the_metadata_read_is_bounded_in_size_and_time(services, provider, monkeypatch):
    from gateway.admin import provider_metadata

    huge = {"resourceType": "CapabilityStatement", "fhirVersion": "3.0.1", "text": "x" * provider_metadata.MAX_BYTES}
    provider.script = lambda r, s: Reply(body=huge)
    saved = await services.admin_api.routes.save(ADMIN, TENANT_A, spec(provider.base("/stu3")))
    assert saved.check.status == "unverified" and "UpstreamTooLarge" in saved.check.detail
    monkeypatch.setattr(provider_metadata, "READ_SECONDS", 0.2)
    provider.script = lambda r, s: Reply(body={"resourceType": "CapabilityStatement", "fhirVersion": "3.0.1"},
                                         delay=2)
    saved = await services.admin_api.routes.save(ADMIN, TENANT_A, spec(provider.base("/stu3")))
    assert saved.check.detail == "the provider's metadata did not answer in time"


async def test_the_metadata_read_sends_no_credential_and_metadata_behind_auth_does_not_block(services, provider):
    secret = "provider-secret-Mx81q0"
    register_sensitive(secret)
    provider.script = lambda r, s: Reply(status=401, body={"resourceType": "OperationOutcome", "issue": []})
    saved = await services.admin_api.routes.save(ADMIN, TENANT_A, spec(
        provider.base("/stu3"), upstream=ClientCredentialsAuth(token_url=f"{provider.base('/token')}",
                                                                client_id="gw"),
        upstream_secret=secret))
    assert saved.check.status == "unverified" and "asks for authentication" in saved.check.detail
    assert saved.route.fhir_base_url == provider.base("/stu3")  # saved all the same
    [read] = provider.requests  # the metadata only: no provider token was fetched for it
    assert read.path == "/stu3/metadata" and read.header("Authorization") is None
