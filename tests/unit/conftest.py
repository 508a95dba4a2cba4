"""Fixtures of the unit tests that count Key Vault calls (``tests.support.vault``)."""

from __future__ import annotations

import pytest

from tests.support.vault import CountingStore, counted_vault


@pytest.fixture
def vault(services) -> CountingStore:
    """The test services' vault, counting its calls."""
    return counted_vault(services)


@pytest.fixture
def empty_vault(services) -> CountingStore:
    """A new vault, counting its calls: a deployment before its ``ensure`` step (no signing key, no client id
    key)."""
    return counted_vault(services, empty=True)
