"""Running the demo provider on a real socket: in-process (tests, benchmarks) or from the CLI."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from devtools.demo_provider.app import create_app
from devtools.demo_provider.backend_services import TOKEN_PATH, BackendServicesConfig

logger = logging.getLogger("devtools.demo_provider")


class AccessLogger(AbstractAccessLogger):
    """Method, path (never the query string: search values may be PHI), status and time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.2fms", request.method, request.path, response.status, time * 1000)


@dataclass(frozen=True)
class RunningProvider:
    """A listening demo provider: ``url`` is where it listens, ``base_url`` what its links start with;
    ``token_url`` is its token endpoint in SMART Backend Services mode (None otherwise)."""

    url: str
    base_url: str
    port: int
    token_url: str | None = None

    def fhir_base(self, version: str) -> str:
        """The FHIR base URL of ``version`` (DSTU2, STU3, R4), e.g. ``http://127.0.0.1:8081/stu3``."""
        return f"{self.base_url}/{version.lower()}"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(512)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def running_provider(host: str = "127.0.0.1", port: int = 0, *, base_url: str | None = None,
                           latency_ms: float = 0, access_log: bool = False,
                           backend_services: BackendServicesConfig | None = None) -> AsyncIterator[RunningProvider]:
    """Serve the demo provider until the block exits; ``base_url`` defaults to the listening URL.

    ``backend_services`` turns on SMART Backend Services mode (FHIR reads need a token from ``token_url``).
    """
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}"
    base = (base_url or url).rstrip("/")
    runner = web.AppRunner(create_app(base, latency_ms=latency_ms, backend_services=backend_services),
                           handle_signals=False,
                           access_log_class=AccessLogger, access_log=logger if access_log else None)
    await runner.setup()
    try:
        site = web.SockSite(runner, sock)
        await site.start()
        yield RunningProvider(url=url, base_url=base, port=bound,
                              token_url=base + TOKEN_PATH if backend_services is not None else None)
    finally:
        await runner.cleanup()
        sock.close()
