"""private_key_jwt client authentication benchmark: prints figures, asserts nothing.

1. Per assertion: ``ClientAssertionVerifier.verify`` (header, key lookup, signature, claims, replay
   store) for RS384 and ES384 (and RS256/ES256 for reference), with the client's keys inline and
   through a ``JwksFetcher`` warmed from a loopback JWKS server, on the in-memory replay store.
2. Whole token requests in-process through ``gateway.oauth.endpoint.OAuthEndpoints.respond`` (form parsing, client
   authentication, scope, signing, JSON) on the in-memory stores with warm caches, each figure the smallest
   median of rounds of 100 (the least disturbed): the secret-based
   one (as ``bench.token_bench`` measures it) and private_key_jwt ones with RS384 and ES384
   assertions (each request a fresh assertion, signed beforehand as a client would) whose keys come
   from a JWKS URL served on loopback, cache warm, and printed as a multiple of the secret-based one.
   P-384 verification is slow in OpenSSL, so ES384 costs several times RS384.

Run: ``.venv/bin/python -m bench.client_assertion_bench [--rounds 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.config import Settings  # noqa: E402
from gateway.credentials import check_verifier, make_verifier  # noqa: E402
from gateway.oauth.client_assertion import ClientAssertionVerifier, InlineKeys  # noqa: E402
from gateway.oauth.jwks import parse_public_jwks  # noqa: E402
from gateway.oauth.jwks_fetcher import JwksFetcher  # noqa: E402
from gateway.services import memory_services  # noqa: E402
from gateway.stores.replay import MemoryReplayStore  # noqa: E402
from tests.support.constants import CLIENT_ID  # noqa: E402
from tests.support.oauth import post_form, token_request  # noqa: E402
from tests.support.surfaces import respond  # noqa: E402
from tests.unit.oauth.helpers import add_client, add_route  # noqa: E402
from tests.unit.oauth.keys import TOKEN_URL, ec_key, public_jwk, rsa_key, sign  # noqa: E402

SETTINGS = Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development"})


def assertions(rounds: int, key, kid: str, alg: str) -> list[str]:
    now = int(time.time())
    return [sign(key, kid, {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": TOKEN_URL, "exp": now + 240, "iat": now,
                            "jti": uuid.uuid4().hex}, alg) for _ in range(rounds)]


async def serve_jwks(jwks: dict) -> tuple[Any, int]:
    """A JWKS on loopback (cacheable for an hour): the runner to clean up and the port the OS chose."""
    from aiohttp import web

    app = web.Application()
    app.router.add_get("/jwks.json", lambda request: web.json_response(
        jwks, headers={"Cache-Control": "max-age=3600"}))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the port the OS chose


async def verify_figures(rounds: int) -> dict[str, float]:
    jwks = {"keys": [public_jwk(rsa_key(), "rsa"), public_jwk(ec_key(), "ec384"),
                     public_jwk(ec_key("b", "P-256"), "ec256")]}
    inline = InlineKeys(parse_public_jwks(jwks))
    runner, port = await serve_jwks(jwks)
    fetcher = JwksFetcher(SETTINGS)  # development: http on loopback is allowed
    fetched = fetcher.key_source(CLIENT_ID, f"http://127.0.0.1:{port}/jwks.json")
    assert await fetched.key("rsa") is not None  # warm: one fetch, then the cache serves
    figures: dict[str, float] = {}
    print("algorithm   keys      verify (us)")
    for alg, key, kid in (("RS384", rsa_key(), "rsa"), ("ES384", ec_key(), "ec384"),
                          ("RS256", rsa_key(), "rsa"), ("ES256", ec_key("b", "P-256"), "ec256")):
        for source_name, source in (("inline", inline), ("jwks-url", fetched)):
            verifier = ClientAssertionVerifier(token_url=TOKEN_URL, replay=MemoryReplayStore(), allow_sha256=True)
            tokens = assertions(rounds, key, kid, alg)
            for token in tokens[:50]:
                await verifier.verify(token, CLIENT_ID, source)
            start = time.perf_counter()
            for token in tokens[50:]:
                await verifier.verify(token, CLIENT_ID, source)
            per = (time.perf_counter() - start) / (rounds - 50) * 1e6
            figures[f"{alg}/{source_name}"] = per
            print(f"{alg:<10}  {source_name:<8}  {per:11.1f}")
    print(f"JWKS fetches during the run: {fetcher.fetches}")
    await fetcher.aclose()
    await runner.cleanup()
    return figures


async def least_disturbed(requests: list, services, per_round: int = 100) -> float:  # noqa: ANN001
    """µs per token request: the smallest median of rounds of ``per_round`` requests (the least disturbed by
    the machine's other work), so that two kinds of request measured one after the other compare fairly."""
    medians = []
    for first in range(0, len(requests) - per_round + 1, per_round):
        times = []
        for request in requests[first:first + per_round]:
            started = time.perf_counter()
            await respond(request, services)
            times.append(time.perf_counter() - started)
        medians.append(statistics.median(times))
    return min(medians) * 1e6


async def secret_figures(rounds: int) -> tuple[float, float]:
    services = memory_services(SETTINGS)
    await add_route(services)
    secret = await add_client(services)
    request = token_request(post_form(CLIENT_ID, secret))
    for _ in range(200):
        assert (await respond(request, services)).status == 200
    per_request = await least_disturbed([request] * rounds, services)
    verifier = make_verifier(secret)
    start = time.perf_counter()
    for _ in range(rounds):
        check_verifier(verifier, secret)
    per_check = (time.perf_counter() - start) / rounds * 1e6
    await services.aclose()
    return per_request, per_check


async def assertion_requests(rounds: int) -> dict[str, float]:
    """Per private_key_jwt token request (µs), JWKS URL on loopback with a warm cache."""

    from tests.support.oauth import assertion_form
    from tests.unit.oauth.helpers import add_key_client

    jwks = {"keys": [public_jwk(rsa_key(), "rsa"), public_jwk(ec_key(), "ec384")]}
    runner, port = await serve_jwks(jwks)
    services = memory_services(SETTINGS)
    await add_route(services)
    await add_key_client(services, CLIENT_ID, jwks_url=f"http://127.0.0.1:{port}/jwks.json")
    figures: dict[str, float] = {}
    try:
        for alg, key, kid in (("RS384", rsa_key(), "rsa"), ("ES384", ec_key(), "ec384")):
            requests = [token_request(assertion_form(token)) for token in assertions(rounds + 50, key, kid, alg)]
            for request in requests[:50]:  # warm: the JWKS fetch, the client record, the signing key
                assert (await respond(request, services)).status == 200
            figures[alg] = await least_disturbed(requests[50:], services)

        fetches = services.assertion_authenticator.fetcher.fetches
        print(f"JWKS fetches for {2 * (rounds + 50)} token requests: {fetches}")
    finally:
        await services.aclose()
        await runner.cleanup()
    return figures


async def main_async(rounds: int) -> None:
    await verify_figures(rounds)
    per_request, per_check = await secret_figures(rounds)
    print(f"secret-based token request in-process: {per_request:.1f} us; secret verifier check: {per_check:.1f} us")
    for alg, per in (await assertion_requests(rounds)).items():
        print(f"private_key_jwt token request in-process ({alg}, JWKS URL, warm cache): {per:.1f} us "
              f"= {per / per_request:.2f}x the secret-based one (target <= 2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main_async(max(args.rounds, 100)))


if __name__ == "__main__":
    main()
