"""``python -m devtools.keyvault_emulator``: serve the emulator over HTTPS until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import signal
import ssl
import sys
from pathlib import Path

from aiohttp import web

from devtools.keyvault_emulator.certs import ensure_certificate
from devtools.keyvault_emulator.meter import Meter, RateLimit
from devtools.keyvault_emulator.server import make_app
from devtools.keyvault_emulator.vault import Vault


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; the emulator binds nothing else."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.keyvault_emulator",
                                     description="Azure Key Vault (Secrets and Keys APIs) emulator for development. "
                                                 "Accepts any bearer token: loopback only.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8443, help="TCP port (default 8443; 0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, default=Path(".local/keyvault"),
                        help="certificate and vault state (default .local/keyvault)")
    parser.add_argument("--purge-protection", action="store_true",
                        help="refuse purges, like a vault with purge protection enabled")
    parser.add_argument("--recoverable-days", type=int, default=90, help="soft-delete retention (7..90)")
    parser.add_argument("--rate-limit", metavar="CALLS/SECONDS", type=RateLimit.parse,
                        help="answer 429 with Retry-After past CALLS calls in any SECONDS (Key Vault: 4000/10)")
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"--host {args.host!r} is not a loopback address: this emulator accepts any token "
                     "and must never be reachable from another machine")
    if not 7 <= args.recoverable_days <= 90:
        parser.error("--recoverable-days must be between 7 and 90")
    return args


async def serve(args: argparse.Namespace) -> None:
    cert, key = ensure_certificate(args.data_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    vault = Vault(args.data_dir, recoverable_days=args.recoverable_days, purge_protection=args.purge_protection)
    runner = web.AppRunner(make_app(vault, meter=Meter(limit=args.rate_limit)), access_log=None,
                           handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, ssl_context=context, reuse_address=True)
    await site.start()
    addresses = runner.addresses
    port = addresses[0][1] if addresses else args.port
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"keyvault-emulator ready https://{shown}:{port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except OSError as exc:
        print(f"keyvault-emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
