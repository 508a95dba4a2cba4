"""One DSTU2 validator process per test session."""

from collections.abc import Iterator

import pytest

from tests.support.validators import Dstu2Validator


@pytest.fixture(scope="session")
def dstu2() -> Iterator[Dstu2Validator]:
    validator = Dstu2Validator()
    yield validator
    validator.close()
