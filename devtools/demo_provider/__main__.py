"""``python -m devtools.demo_provider --host 127.0.0.1 --port 8081 [--base-url URL] [--latency-ms N]``.

Prints ``demo-provider ready http://<host>:<port>`` once listening; SIGINT and
SIGTERM stop it cleanly (exit status 0). ``--backend-client ID=JWKS_URL``
(repeatable) turns on SMART Backend Services mode for those clients.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from devtools.demo_provider.backend_services import BackendServicesConfig
from devtools.demo_provider.server import running_provider


def backend_client(text: str) -> tuple[str, str]:
    """``CLIENT_ID=JWKS_URL`` of ``--backend-client``."""
    client_id, sep, url = text.partition("=")
    if not sep or not client_id or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError("expected CLIENT_ID=JWKS_URL with an http(s) JWKS URL")
    return client_id, url


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo_provider",
                                     description="Synthetic hospital FHIR server (DSTU2, STU3 and R4 at once).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port (default 8081; 0 picks a free port)")
    parser.add_argument("--base-url", help="base of absolute URLs in responses (default http://<host>:<port>)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every response")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    parser.add_argument("--backend-client", type=backend_client, action="append", default=[], metavar="ID=JWKS_URL",
                        help="SMART Backend Services mode: FHIR requests need a token from /auth/token, which "
                             "accepts RS384/ES384 client assertions of this client, verified against its JWKS URL "
                             "(repeatable; off when not given)")
    parser.add_argument("--token-lifetime", type=int, default=300, metavar="SECONDS",
                        help="Backend Services access token lifetime (default 300)")
    parser.add_argument("--jwks-refetch-seconds", type=float, default=5.0, metavar="SECONDS",
                        help="least time between two fetches of a client's JWKS for an unknown kid (default 5)")
    args = parser.parse_args(argv)
    if args.latency_ms < 0:
        parser.error("--latency-ms must not be negative")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.base_url and not args.base_url.startswith(("http://", "https://")):
        parser.error("--base-url must be an absolute http(s) URL")
    if not 1 <= args.token_lifetime <= 86400:
        parser.error("--token-lifetime must be between 1 and 86400 seconds")
    if args.jwks_refetch_seconds < 0:
        parser.error("--jwks-refetch-seconds must not be negative")
    if len(dict(args.backend_client)) != len(args.backend_client):
        parser.error("--backend-client names a client id twice")
    return args


def backend_services(args: argparse.Namespace) -> BackendServicesConfig | None:
    if not args.backend_client:
        return None
    return BackendServicesConfig(clients=dict(args.backend_client), token_lifetime_seconds=args.token_lifetime,
                                 jwks_refetch_seconds=args.jwks_refetch_seconds)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_provider(args.host, args.port, base_url=args.base_url, latency_ms=args.latency_ms,
                                access_log=not args.quiet, backend_services=backend_services(args)) as provider:
        print(f"demo-provider ready {provider.url}", flush=True)
        if provider.base_url != provider.url:
            print(f"demo-provider links use {provider.base_url}", flush=True)
        if provider.token_url:
            print(f"demo-provider SMART Backend Services: token endpoint {provider.token_url}, clients "
                  f"{', '.join(sorted(dict(args.backend_client)))}", flush=True)
        await stop.wait()
    print("demo-provider stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(serve(args))
    except OSError as exc:
        print(f"demo-provider: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
