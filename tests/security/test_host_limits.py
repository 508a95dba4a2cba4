"""The token endpoint's failure limits across instances: two local Functions hosts (separate processes,
each with its own per-worker counters) sharing one Azurite, attacked alternately."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.fixtures.leaks import register_sensitive
from tests.fixtures.provider import connect
from tests.security.conftest import host_env
from tests.support.constants import TENANT_A
from tests.support.oauth import basic
from tests.unit.oauth.helpers import add_client

pytestmark = pytest.mark.e2e

LIMIT = 3


async def test_brute_force_spread_over_two_hosts_is_limited_in_total(azure_settings, azure_services, azurite, keyvault,
                                                                     funchost, provider):
    await connect(azure_services, TENANT_A, provider.base("/stu3"))
    secret = await add_client(azure_services, "two-host-target", tenants=(TENANT_A,))
    register_sensitive(secret)
    key = "fk-" + secrets.token_urlsafe(24)
    register_sensitive(key)
    env = host_env(azure_settings, azurite, keyvault, key, AUTH_FAILURE_LIMIT=str(LIMIT),
                   AUTH_FAILURE_WINDOW_SECONDS="60")
    hosts = [funchost(env), funchost(env)]
    form = {"grant_type": "client_credentials", "scope": TENANT_A}
    attackers = [httpx.Client(base_url=host.base_url, timeout=30,
                              transport=httpx.HTTPTransport(local_address="127.0.0.2")) for host in hosts]
    honest = [httpx.Client(base_url=host.base_url, timeout=30) for host in hosts]
    try:
        for client in honest:  # both hosts serve the honest client (warm caches, nothing counted)
            assert client.post("/oauth2/token", data=form,
                               headers={"Authorization": basic("two-host-target", secret)}).status_code == 200
        statuses = []
        for attempt in range(4 * LIMIT):
            wrong = secret[:-4] + f"{attempt:04d}"
            response = attackers[attempt % 2].post("/oauth2/token", data=form,
                                                   headers={"Authorization": basic("two-host-target", wrong)})
            statuses.append(response.status_code)
        # Per-worker limits alone would give 2 x LIMIT wrong-secret answers; the shared counters give LIMIT.
        assert statuses == [401] * LIMIT + [429] * (3 * LIMIT)
        for client in attackers:  # locked out on both hosts, even with the right secret
            assert client.post("/oauth2/token", data=form,
                               headers={"Authorization": basic("two-host-target", secret)}).status_code == 429
        for client in honest:  # the honest client, on its own address, is unaffected on both
            assert client.post("/oauth2/token", data=form,
                               headers={"Authorization": basic("two-host-target", secret)}).status_code == 200
    finally:
        for client in attackers + honest:
            client.close()
    for host in hosts:
        assert secret not in host.output()
