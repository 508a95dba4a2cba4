"""Hypothesis profiles of the property tests (this folder only; other folders keep their own settings).

``properties`` (default) keeps the whole folder fast enough for ``make test``; ``HYPOTHESIS_PROFILE=deep``
runs many more examples per property for long hunts::

    HYPOTHESIS_PROFILE=deep .venv/bin/python -m pytest tests/properties -q -p no:cacheprovider

The profiles are registered here but never loaded globally: each test takes its settings from
:func:`tests.properties.support.examples`, so hypothesis tests elsewhere are unaffected.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.properties.support import PROFILE, Loop

HERE = Path(__file__).parent

_COMMON = {
    "deadline": None,  # the machine is shared: never fail on timing
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                              HealthCheck.large_base_example, HealthCheck.function_scoped_fixture],
    "print_blob": True,
}

settings.register_profile("properties", max_examples=60, **_COMMON)
settings.register_profile("deep", max_examples=2000, **_COMMON)


@pytest.fixture
def loop():
    """An event loop for the whole test: hypothesis examples run their coroutines on it."""
    runner = Loop()
    yield runner
    runner.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under the deep profile the properties of this folder may run far beyond the suite's 120 s per test."""
    if PROFILE != "deep":
        return
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.timeout(3600))
