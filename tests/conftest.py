"""Shared fixtures. Real services are started by the fixture modules below; none is ever skipped silently."""

import pytest

# Shared contract suites live outside test_*.py modules; rewrite their asserts too (detailed failure output).
pytest.register_assert_rewrite("tests.unit.stores.contracts")

pytest_plugins = [
    "tests.fixtures.leaks",
    "tests.fixtures.common",
    "tests.fixtures.azurite",
    "tests.fixtures.keyvault",
    "tests.fixtures.funchost",
    "tests.fixtures.provider",
    "tests.fixtures.entra",
    "tests.fixtures.ingestion",
]
