"""``python -m devtools.demo_provider --host 127.0.0.1 --port 8081 [--base-url URL] [--latency-ms N]``.

Prints ``demo-provider ready http://<host>:<port>`` once listening; SIGINT and
SIGTERM stop it cleanly (exit status 0).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from devtools.demo_provider.server import running_provider


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo_provider",
                                     description="Synthetic hospital FHIR server (DSTU2, STU3 and R4 at once).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port (default 8081; 0 picks a free port)")
    parser.add_argument("--base-url", help="base of absolute URLs in responses (default http://<host>:<port>)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every response")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    args = parser.parse_args(argv)
    if args.latency_ms < 0:
        parser.error("--latency-ms must not be negative")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.base_url and not args.base_url.startswith(("http://", "https://")):
        parser.error("--base-url must be an absolute http(s) URL")
    return args


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_provider(args.host, args.port, base_url=args.base_url, latency_ms=args.latency_ms,
                                access_log=not args.quiet) as provider:
        print(f"demo-provider ready {provider.url}", flush=True)
        if provider.base_url != provider.url:
            print(f"demo-provider links use {provider.base_url}", flush=True)
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
