"""A demo provider on a real loopback socket and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from devtools.demo_provider import RunningProvider, running_provider


@pytest.fixture
async def provider() -> AsyncIterator[RunningProvider]:
    async with running_provider() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
