"""Client authentication timing: does the token endpoint's answer tell a known client id from an unknown one?

Prints, side by side, the median and p90 time of ``gateway.oauth.endpoint.OAuthEndpoints.respond`` (in process) for
a known client's wrong secret, a fresh random (unknown) client id per request, one unknown id
repeated, and a known client with an unknown secret id; then the same for ``private_key_jwt``
client assertions (RS384): a known client's forged signature, an unknown client, an unknown kid.
The stores are real: Azurite and the Key
Vault emulator, so a store read per attempt would show as milliseconds; the failure limits are set
high so that every attempt is checked (failures are counted in the shared Table Storage counters,
as in production). Interleaved rounds, so drift affects every kind alike. Asserts nothing.

Run: ``.venv/bin/python -m bench.client_auth_timing [--rounds 400] [--memory]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.token_bench import free_port  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.oauth.rate_limit import FailureLimiter  # noqa: E402
from gateway.services import Services, build_services, memory_services  # noqa: E402
from tests.support.constants import BACKEND_CLIENT_ID as KEY_CLIENT  # noqa: E402
from tests.support.constants import CLIENT_ID  # noqa: E402
from tests.support.oauth import assertion_form, post_form, token_request  # noqa: E402
from tests.support.surfaces import respond  # noqa: E402
from tests.unit.oauth.helpers import add_client, add_key_client, add_route  # noqa: E402

LIMITS = {"AUTH_FAILURE_LIMIT": "10000", "AUTH_FAILURE_LIMIT_PER_ADDRESS": "100000"}


async def measure(services: Services, rounds: int) -> None:
    from tests.unit.oauth.keys import public_jwk, rsa_key

    await add_route(services)
    secret = await add_client(services)
    await add_key_client(services, KEY_CLIENT, jwks={"keys": [public_jwk(rsa_key(), "k1")]})
    shared = services.failure_counters
    print("with the shared failure counters (every failure is also counted in the shared store):")
    await compare(services, secret, rounds)
    services.failure_counters = None
    services.failure_limiter = FailureLimiter.from_settings(services.settings, services.clock, None)  # no shared
    print("without them (client authentication alone):")
    await compare(services, secret, rounds)
    services.failure_counters = shared


async def compare(services: Services, secret: str, rounds: int) -> None:
    wrong = secret[:-6] + "000000"
    unknown_secret_id = "0123456789abcdef." + secret.split(".", 1)[1]
    from tests.unit.oauth.keys import claims, rsa_key, sign

    def forged(issuer: str, kid: str = "k1") -> str:
        now = services.clock.now().timestamp()
        return sign(rsa_key("attacker"), kid, claims(now, iss=issuer, sub=issuer, exp=int(now) + 3000))

    kinds: dict[str, Callable[[int], dict[str, str]]] = {
        "known client, wrong secret": lambda n: post_form(CLIENT_ID, wrong),
        "unknown client (fresh id)": lambda n: post_form(f"client-{uuid.uuid4().hex}", wrong),
        "unknown client (same id)": lambda n: post_form("no-such-client", wrong),
        "known client, unknown secret id": lambda n: post_form(CLIENT_ID, unknown_secret_id),
        "assertion: known, forged signature": lambda n: assertion_form(forged(KEY_CLIENT)),
        "assertion: unknown client": lambda n: assertion_form(forged(f"client-{uuid.uuid4().hex}")),
        "assertion: known, unknown kid": lambda n: assertion_form(forged(KEY_CLIENT, "k-unknown")),
    }
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200  # warm
    for n in range(rounds + 20):
        for kind, form in kinds.items():
            request = token_request(form(n), address=f"198.51.{n % 250}.{len(samples[kind]) % 250}")
            start = time.perf_counter()
            response = await respond(request, services)
            elapsed = (time.perf_counter() - start) * 1000
            if response.status != 401:
                raise SystemExit(f"{kind}: expected 401, got {response.status}")
            if n >= 20:  # the first rounds warm caches and connections
                samples[kind].append(elapsed)
    print(f"{'request':<34} {'median ms':>10} {'p90 ms':>8}   ({rounds} each, interleaved)")
    for kind, times in samples.items():
        times.sort()
        print(f"{kind:<34} {statistics.median(times):10.3f} {times[int(len(times) * 0.9)]:8.3f}")


async def on_azure_stores(rounds: int) -> None:
    from devtools.azurite import AzuriteProcess
    from tests.fixtures.keyvault import KeyVaultEmulator

    with tempfile.TemporaryDirectory() as tmp:
        azurite = AzuriteProcess(free_port(), Path(tmp) / "azurite", in_memory=True)
        vault = KeyVaultEmulator(Path(tmp) / "keyvault")
        try:
            azurite.start()
            vault.start()
            settings = Settings.from_mapping({
                "GATEWAY_ENVIRONMENT": "development", "TABLES_CONNECTION_STRING": azurite.connection_string,
                **vault.settings(), "TABLE_NAME_PREFIX": "timing", "KEY_VAULT_SECRET_PREFIX": "timing", **LIMITS})
            services = await build_services(settings, create_tables=True)
            try:
                await services.admin_api.deployment.ensure()
                print("stores: Azurite + Key Vault emulator (real round trips)")
                await measure(services, rounds)
            finally:
                await services.aclose()
        finally:
            vault.stop()
            azurite.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--memory", action="store_true", help="in-memory stores instead of Azurite + Key Vault")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # one log line per request would dominate the figures
    if args.memory:
        print("stores: in memory")
        asyncio.run(measure(memory_services(Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development",
                                                                   **LIMITS})), args.rounds))
    else:
        asyncio.run(on_azure_stores(args.rounds))


if __name__ == "__main__":
    main()
