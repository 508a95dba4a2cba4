"""Provider URL and address rules (SSRF): production refuses internal targets unless marked private."""

import pytest

from gateway.outbound.destinations import address_problem, validate_provider_url
from tests.fixtures.common import make_settings

DEV = make_settings()
PROD = make_settings(GATEWAY_ENVIRONMENT="production", PUBLIC_BASE_URL="https://gw.example",
                     KEY_VAULT_URL="https://kv.vault.azure.net", TABLES_ENDPOINT="https://t.table.core.windows.net")


def test_public_https_provider_is_accepted_in_production():
    assert validate_provider_url("https://fhir.hospital.example/api/stu3", PROD) == []


HTTPS = "the provider URL must use https"
CREDENTIALS = "the provider URL must not contain credentials"
QUERY = "the provider URL must not contain a query or fragment"
PATH = "the provider URL path must not contain dot segments, backslashes or percent-escapes"
LOOPBACK = "loopback addresses are allowed in development only"
PRIVATE = "private addresses are refused unless the route is marked as a private-network provider"
METADATA = "the address of a cloud metadata service is never allowed"


@pytest.mark.parametrize("url, problems", [
    ("http://fhir.hospital.example/stu3", [HTTPS]),
    ("ftp://fhir.hospital.example/", [HTTPS]),
    ("https://127.0.0.1/fhir", [LOOPBACK]), ("https://localhost/fhir", [LOOPBACK]),
    ("https://api.localhost./fhir", [LOOPBACK]), ("https://[::1]/fhir", [LOOPBACK]),
    ("https://10.1.2.3/fhir", [PRIVATE]), ("https://192.168.0.5/fhir", [PRIVATE]),
    ("https://172.16.0.1/fhir", [PRIVATE]), ("https://[fd00::1]/fhir", [PRIVATE]), ("https://100.64.0.1/", [PRIVATE]),
    ("https://169.254.1.1/fhir", ["link-local addresses are never allowed"]),
    ("https://169.254.169.254/metadata", [METADATA]), ("https://0x7f.1/", [LOOPBACK]),
    ("https://0.0.0.0/", ["unspecified addresses are never allowed"]),
    ("https://224.0.0.1/", ["multicast addresses are never allowed"]),
    ("https://240.0.0.1/", ["reserved addresses are never allowed"]),
    ("https://user:pw@fhir.hospital.example/", [CREDENTIALS]), ("https://user@fhir.hospital.example/", [CREDENTIALS]),
    ("https://fhir.hospital.example/?x=1", [QUERY]), ("https://fhir.hospital.example/#x", [QUERY]),
    ("https://fhir.hospital.example/?", [QUERY]), ("https://fhir.hospital.example/#", [QUERY]),
    ("https://fhir.hospital.example/a/../b", [PATH]), ("https://fhir.hospital.example/./b", [PATH]),
    ("https://fhir.hospital.example/a%2e/", [PATH]), ("https://fhir.hospital.example/a\\b", [PATH]),
    ("", ["the provider URL is empty"]), ("   ", ["the provider URL is empty"]),
    ("https://", ["the provider URL has no host"]),
    ("https://fhir.hospital.example/a b", ["the provider URL contains spaces or control characters"]),
    ("https://fhir.hospital.example/\x7f", ["the provider URL contains spaces or control characters"]),
    ("https://fhir.hospital.example:0/", ["the provider URL has an invalid port"]),
    ("https://fhir.hospital.example:99999/", ["the provider URL is not a valid URL"]),
    ("ftp://user@127.0.0.1/?x", [HTTPS, CREDENTIALS, QUERY, LOOPBACK]),
])
def test_unsafe_provider_urls_are_refused_in_production(url, problems):
    assert validate_provider_url(url, PROD) == problems


def test_a_provider_url_that_is_not_a_string_is_refused():
    assert validate_provider_url(None, PROD) == ["the provider URL is empty"]  # type: ignore[arg-type]


def test_private_network_route_may_use_private_addresses_but_never_metadata():
    for url in ("https://10.1.2.3/fhir", "https://172.31.255.254/fhir", "https://192.168.1.1/fhir",
                "https://100.127.255.254/fhir", "https://[fd12:3456::1]/fhir", "https://[fc00::1]/fhir"):
        assert validate_provider_url(url, PROD, private_network=True) == []
    assert validate_provider_url("https://169.254.169.254/x", PROD, private_network=True) == [METADATA]
    assert address_problem("168.63.129.16", PROD, True) == METADATA


@pytest.mark.parametrize("address, problem", [
    ("127.0.0.1", LOOPBACK), ("::1", LOOPBACK), ("::ffff:127.0.0.1", LOOPBACK),
    ("0.0.0.0", "unspecified addresses are never allowed"), ("::", "unspecified addresses are never allowed"),
    ("169.254.1.1", "link-local addresses are never allowed"), ("fe80::1", "link-local addresses are never allowed"),
    ("224.0.0.1", "multicast addresses are never allowed"), ("ff02::1", "multicast addresses are never allowed"),
    ("240.0.0.1", "reserved addresses are never allowed"), ("192.0.2.1", "reserved addresses are never allowed"),
    ("198.18.0.1", "reserved addresses are never allowed"), ("2001:db8::1", "reserved addresses are never allowed"),
    ("::a9fe:a9fe", "reserved addresses are never allowed"),
    ("64:ff9b:1::a9fe:a9fe", "reserved addresses are never allowed"),
    ("169.254.169.254", METADATA), ("169.254.170.2", METADATA), ("168.63.129.16", METADATA),
    ("fd00:ec2::254", METADATA),
    ("64:ff9b::a9fe:a9fe", METADATA), ("64:ff9b::7f00:1", LOOPBACK), ("64:ff9b::a9fe:aa02", METADATA),
    ("2001:0:4136:e378:8000:63bf:5601:5601", METADATA), ("2002:a9fe:a9fe::1", METADATA),
    ("::ffff:169.254.169.254", METADATA), ("not-an-ip", "not an IP address"),
])
def test_private_network_opens_private_ranges_only(address, problem):
    """Loopback, unspecified, link-local, multicast, reserved and metadata stay refused with ``privateNetwork``."""
    assert address_problem(address, PROD, True) == problem


@pytest.mark.parametrize("address", ["10.0.0.1", "172.16.0.1", "192.168.255.255", "100.64.0.1", "fd12::1",
                                     "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::"])
def test_private_network_opens_private_ranges_in_any_notation(address):
    assert address_problem(address, PROD, False) == PRIVATE
    assert address_problem(address, PROD, True) is None


def test_development_allows_loopback_http_but_not_private_ranges():
    assert validate_provider_url("http://127.0.0.1:8080/stu3", DEV) == []
    assert validate_provider_url("http://localhost:8080/stu3", DEV) == []
    assert validate_provider_url("http://10.0.0.1/stu3", DEV) == [PRIVATE]
    assert validate_provider_url("ftp://127.0.0.1/stu3", DEV) == ["the provider URL must use http or https"]
    assert address_problem("0.0.0.0", DEV, True) == "unspecified addresses are never allowed"


@pytest.mark.parametrize("address, refused", [
    ("8.8.8.8", False), ("127.0.0.1", True), ("::ffff:127.0.0.1", True), ("10.0.0.1", True),
    ("fe80::1", True), ("fe80::1%eth0", True), ("169.254.169.254", True), ("2001:4860:4860::8888", False), ("::", True),
    ("224.0.0.1", True), ("not-an-ip", True),
    ("2002:a9fe:a9fe::1", True), ("2002:7f00:1::", True), ("2002:808:808::1", False),
    ("2001:0:4136:e378:8000:63bf:5601:fefe", True), ("64:ff9b::808:808", False), ("64:ff9b::a9fe:a9fe", True),
])
def test_resolved_addresses_in_production(address, refused):
    assert (address_problem(address, PROD, False) is not None) is refused


def test_problems_do_not_repeat_the_url():
    problems = validate_provider_url("http://secret-host.internal/stu3", PROD)
    assert problems and all("secret-host" not in p for p in problems)


def test_module_imports_without_aiohttp():
    import subprocess
    import sys

    code = "import sys, gateway.outbound.destinations; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("url", ["https://bücher.example/fhir", "https://ehr.example/a!b/$c'd(e)*+,;=", "https://face/",
                                 "https://ehr.example:8443/fhir/", "https://EHR.example/"])
def test_ordinary_names_and_paths_are_accepted_in_production(url):
    assert validate_provider_url(url, PROD) == []


def test_development_accepts_https_as_well():
    assert validate_provider_url("https://127.0.0.1:8443/stu3", DEV) == []
    assert validate_provider_url("HTTP://localhost:8080/stu3", DEV) == []


@pytest.mark.parametrize("address, private_network, problem", [
    ("fe80::1%eth0", True, "link-local addresses are never allowed"),
    ("fd00::1%eth0", True, None), ("fd00::1%eth0%1", True, None), ("fd00::1%eth0", False, PRIVATE),
    ("%fd00::1", True, "not an IP address"), ("10.0.0.1%", True, None),
])
def test_a_zone_index_is_not_part_of_the_address(address, private_network, problem):
    assert address_problem(address, PROD, private_network) == problem
