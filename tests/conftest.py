"""Shared fixtures. Real services are started by the fixture modules below; none is ever skipped silently."""

pytest_plugins = [
    "tests.fixtures.leaks",
    "tests.fixtures.common",
    "tests.fixtures.azurite",
    "tests.fixtures.keyvault",
    "tests.fixtures.funchost",
    "tests.fixtures.provider",
]
