"""Provider assertion benchmark (privateKeyJwt routes): prints figures, asserts nothing.

1. Signing an RFC 7523 assertion with the in-memory key store (``cryptography`` locally): the signing cost alone.
2. The same through Key Vault keys on the local emulator over HTTPS (production ``CryptographyClient.sign``):
   what a provider-token miss costs before the token request is sent. Azure Key Vault adds its own latency
   (typically a few to tens of ms per sign); that is why provider tokens are cached per route.
3. A proxied read through a privateKeyJwt route to the demo provider in Backend Services mode: with the provider
   token cached (the steady state) and with a miss on every read (assertion + token request + read).

Run: ``.venv/bin/python -m bench.provider_assertion_bench [--rounds 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.config import Settings  # noqa: E402
from gateway.services import memory_services  # noqa: E402

TOKEN_URL = "https://ehr.example/auth/token"


def _figures(label: str, samples: list[float]) -> None:
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"  {label:<44} median {statistics.median(samples) * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms")


async def _sign(services, alg: str, rounds: int) -> list[float]:
    ring = services.provider_key_ring
    await ring.ensure("bench", alg)
    await ring.assertion("bench", alg, "gw", TOKEN_URL)  # warm: listing cached, clients open
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await ring.assertion("bench", alg, "gw", TOKEN_URL)
        samples.append(time.perf_counter() - started)
    return samples


async def in_memory(rounds: int) -> None:
    print("1. assertion signing, in-memory key store (cryptography)")
    services = memory_services(Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development"}))
    try:
        for alg in ("RS384", "ES384"):
            _figures(alg, await _sign(services, alg, rounds))
    finally:
        await services.aclose()


async def key_vault(rounds: int) -> None:
    from gateway.stores.keyvault_keys import KeyVaultProviderKeyStore
    from tests.fixtures.keyvault import KeyVaultEmulator, keyvault_settings

    print("2. assertion signing, Key Vault keys on the local emulator (HTTPS, CryptographyClient.sign)")
    with tempfile.TemporaryDirectory() as tmp:
        vault = KeyVaultEmulator(Path(tmp) / "keyvault")
        vault.start()
        try:
            settings = keyvault_settings(vault)
            services = memory_services(settings)
            services.provider_keys = KeyVaultProviderKeyStore.from_settings(settings)
            try:
                for alg in ("RS384", "ES384"):
                    _figures(alg, await _sign(services, alg, rounds))
            finally:
                await services.provider_keys.aclose()
                await services.aclose()
        finally:
            vault.stop()


async def proxied_reads(rounds: int) -> None:
    from devtools.demo_provider import running_provider
    from devtools.demo_provider.backend_services import BackendServicesConfig
    from gateway.admin.actor import Actor
    from gateway.admin.tenant_routes import RouteSpec
    from gateway.stores.models import Client
    from gateway.upstream.private_key_jwt import PrivateKeyJwtAuth
    from tests.fixtures.provider_jwks import serving_provider_jwks
    from tests.support.constants import TENANT_A
    from tests.support.fhir import request

    print("3. proxied read through a privateKeyJwt route (demo provider, Backend Services mode, in-memory keys)")
    services = memory_services(Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development",
                                                      "PUBLIC_BASE_URL": "http://localhost:7071"}))
    try:
        await services.clients.create(Client(client_id="bench", display_name="bench", allowed_tenants=("*",)))
        token = (await services.token_issuer.issue(client_id="bench", tenant_id=TENANT_A)).access_token
        async with serving_provider_jwks(services) as jwks_url, running_provider(
                backend_services=BackendServicesConfig(clients={"gw": jwks_url}, jwks_refetch_seconds=0)) as provider:
            for alg in ("RS384", "ES384"):
                route, _ = await services.admin_api.routes.put(Actor("bench"), TENANT_A, RouteSpec(
                    fhir_base_url=f"{provider.base_url}/stu3", fhir_version="STU3",
                    upstream=PrivateKeyJwtAuth(token_url=provider.token_url, client_id="gw", scope="system/*.rs",
                                               algorithm=alg)))
                for miss in (False, True):
                    samples = []
                    for _ in range(rounds):
                        if miss:
                            services.upstream_authenticator.forget(route)
                        started = time.perf_counter()
                        response = await services.fhir_proxy.handle(request("GET", "/Patient/demo-patient-1", token))
                        samples.append(time.perf_counter() - started)
                        assert response.status == 200, response.body[:200]
                    _figures(f"{alg} {'provider token miss on every read' if miss else 'provider token cached'}",
                             samples)
    finally:
        await services.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(in_memory(args.rounds))
    asyncio.run(key_vault(args.rounds))
    asyncio.run(proxied_reads(args.rounds))


if __name__ == "__main__":
    main()
