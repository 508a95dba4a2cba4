"""Provider URL and address rules (SSRF): production refuses internal targets unless marked private."""

import pytest

from gateway.proxy.destinations import address_problem, validate_provider_url
from tests.fixtures.common import make_settings

DEV = make_settings()
PROD = make_settings(GATEWAY_ENVIRONMENT="production", PUBLIC_BASE_URL="https://gw.example",
                     KEY_VAULT_URL="https://kv.vault.azure.net", TABLES_ENDPOINT="https://t.table.core.windows.net")


def test_public_https_provider_is_accepted_in_production():
    assert validate_provider_url("https://fhir.hospital.example/api/stu3", PROD) == []


@pytest.mark.parametrize("url", [
    "http://fhir.hospital.example/stu3",
    "https://127.0.0.1/fhir", "https://localhost/fhir", "https://10.1.2.3/fhir", "https://192.168.0.5/fhir",
    "https://172.16.0.1/fhir", "https://169.254.1.1/fhir", "https://[::1]/fhir", "https://[fd00::1]/fhir",
    "https://169.254.169.254/metadata", "https://0.0.0.0/", "https://100.64.0.1/",
    "https://user:pw@fhir.hospital.example/", "https://fhir.hospital.example/?x=1",
    "https://fhir.hospital.example/#x", "https://fhir.hospital.example/a/../b", "ftp://fhir.hospital.example/",
    "", "https://", "https://fhir.hospital.example/a b",
])
def test_unsafe_provider_urls_are_refused_in_production(url):
    assert validate_provider_url(url, PROD) != []


def test_private_network_route_may_use_private_addresses_but_never_metadata():
    assert validate_provider_url("https://10.1.2.3/fhir", PROD, private_network=True) == []
    assert validate_provider_url("https://169.254.169.254/x", PROD, private_network=True) != []
    assert address_problem("168.63.129.16", PROD, True) is not None


def test_development_allows_loopback_http_but_not_private_ranges():
    assert validate_provider_url("http://127.0.0.1:8080/stu3", DEV) == []
    assert validate_provider_url("http://localhost:8080/stu3", DEV) == []
    assert validate_provider_url("http://10.0.0.1/stu3", DEV) != []


@pytest.mark.parametrize("address, refused", [
    ("8.8.8.8", False), ("127.0.0.1", True), ("::ffff:127.0.0.1", True), ("10.0.0.1", True),
    ("fe80::1", True), ("169.254.169.254", True), ("2001:4860:4860::8888", False), ("::", True),
    ("224.0.0.1", True), ("not-an-ip", True),
    ("2002:a9fe:a9fe::1", True), ("2002:7f00:1::", True), ("2002:808:808::1", False),
    ("2001:0:4136:e378:8000:63bf:5601:fefe", True),
])
def test_resolved_addresses_in_production(address, refused):
    assert (address_problem(address, PROD, False) is not None) is refused


def test_problems_do_not_repeat_the_url():
    problems = validate_provider_url("http://secret-host.internal/stu3", PROD)
    assert problems and all("secret-host" not in p for p in problems)


def test_module_imports_without_aiohttp():
    import subprocess
    import sys

    code = "import sys, gateway.proxy.destinations; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
