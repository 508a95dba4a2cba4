"""Start-up as ``func start`` does it: settings, discovery, the runtime's init and loads, banner, then serve.

The Functions runtime is started and loads the functions on the server's event loop, before the
socket listens (as the worker loads them on its own loop before the host routes requests to it).

uvicorn (uvloop + httptools) is the production-grade ASGI server; it stops gracefully on
SIGINT/SIGTERM (in-flight requests finish, up to ``GRACEFUL_SECONDS``). A response's head and
body leave in one write, as Kestrel sends them (:mod:`.segments`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import uvicorn

from .app import BODY_TIMEOUT_SECONDS, AccessLog, FunctionHost, Keys
from .discovery import FunctionDef, discover, put_app_on_path, read_function_timeout, read_http_limits
from .settings import load_local_settings
from .worker import Worker, get_worker, new_function_id

GRACEFUL_SECONDS = 10


@dataclass(frozen=True)
class HostOptions:
    """Command-line options of ``python -m devtools.funchost``."""

    root: Path
    host: str = "127.0.0.1"
    port: int | None = None
    settings: Path | None = None  # None: <root>/local.settings.json
    use_settings: bool = True
    method_mismatch_status: int = 405


def _modules_available(*names: str) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in names)


def banner(functions: Sequence[FunctionDef], base_url: str) -> str:
    """The function list ``func start`` prints, then the functions in error."""
    lines = ["", "Functions:", ""]
    for function in functions:
        if function.template is None or function.error:
            continue
        state = " (disabled)" if function.disabled else ""
        lines.append(f"\t{function.name}: [{function.methods_text}] {base_url}/{function.template.text}{state}")
        lines.append("")
    failed = [f for f in functions if f.error]
    if failed:
        lines.append(f"The following {len(failed)} functions are in error:")
        lines.extend(f"{f.name}: {f.error}" for f in failed)
        lines.append("")
    return "\n".join(lines)


def build(options: HostOptions, out: TextIO) -> tuple[FunctionHost, list[FunctionDef], int]:
    """Load settings into os.environ, discover and import the functions, and build the ASGI app."""
    root = options.root.resolve()
    if options.use_settings:
        settings_path = (options.settings or root / "local.settings.json").resolve()
        loaded = load_local_settings(settings_path, os.environ)
    else:
        loaded = load_local_settings(None, os.environ)
    print(loaded.describe(), file=out)
    port = options.port or loaded.local_http_port or 7071
    os.chdir(root)  # the worker's working directory is the function app root
    put_app_on_path(root)
    _, functions = discover(root)
    keys = Keys(os.environ.get("LOCAL_FUNCTION_KEY"), os.environ.get("LOCAL_MASTER_KEY"))
    if any(f.auth_level != "anonymous" for f in functions) and not os.environ.get("LOCAL_FUNCTION_KEY"):
        print("Warning: LOCAL_FUNCTION_KEY is not set: functions with authLevel function answer 401.", file=out)
    app = FunctionHost(functions, keys, get_worker(), method_mismatch_status=options.method_mismatch_status,
                       limits=read_http_limits(root), function_timeout=read_function_timeout(root),
                       body_timeout=float(os.environ.get("FUNCHOST_BODY_TIMEOUT_SECONDS") or BODY_TIMEOUT_SECONDS),
                       access_log=AccessLog(out))
    return app, functions, port


async def load_functions(worker: Worker, functions: Sequence[FunctionDef], root: Path) -> None:
    """Start the runtime and load every servable function; a load failure puts that function in error."""
    await worker.start(root)
    for function in functions:
        if function.error is not None or function.disabled:
            continue
        function_id = new_function_id()
        metadata = worker.function_metadata(function_id, function.name, function.directory.resolve(),
                                            function.script_path.resolve(), function.entry_point, function.bindings)
        error = await worker.load(metadata)
        if error is None:
            function.function_id = function_id
        else:
            function.error = f"Exception while loading: {_first_sentence(error)}"


def _first_sentence(message: str) -> str:
    """The runtime's load error without the sys.path and troubleshooting link it appends."""
    cut = message.find(". Cannot find module.")
    return message[:cut] if cut > 0 else message.splitlines()[0] if message else message


class _Server(uvicorn.Server):
    """Prints the banner and ``Host started`` once the socket listens."""

    def __init__(self, config: uvicorn.Config, app: FunctionHost, functions: list[FunctionDef], root: Path,
                 base_url: str, out: TextIO, started_at: float) -> None:
        super().__init__(config)
        self._app, self._functions, self._root, self._base_url = app, functions, root, base_url
        self._out, self._started_at = out, started_at

    async def startup(self, sockets: list | None = None) -> None:  # type: ignore[override]
        await load_functions(self._app.worker, self._functions, self._root)
        print(f"Functions runtime: azure-functions-runtime-v1 {self._app.worker.version} "
              f"(Python {sys.version_info.major}.{sys.version_info.minor})", file=self._out)
        await super().startup(sockets)
        if self.started:
            print(banner(self._functions, self._base_url), file=self._out)
            print(f"Host started ({(time.perf_counter() - self._started_at) * 1000:.0f}ms)", file=self._out,
                  flush=True)

    async def shutdown(self, sockets: list | None = None) -> None:  # type: ignore[override]
        await super().shutdown(sockets)  # in-flight requests finish first
        print("Host stopped", file=self._out, flush=True)


def run(options: HostOptions, out: TextIO = sys.stdout) -> int:
    """Serve until SIGINT/SIGTERM; the exit code is non-zero when the server could not start."""
    started_at = time.perf_counter()
    logging.basicConfig(stream=out, level=logging.INFO, format="[%(asctime)s] %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDK logs every HTTP request at INFO
    app, functions, port = build(options, out)
    root = options.root.resolve()
    shown_host = "localhost" if options.host in ("0.0.0.0", "::") else options.host  # noqa: S104
    shown_host = f"[{shown_host}]" if ":" in shown_host else shown_host
    fast = _modules_available("uvloop", "httptools")
    http: Any = "auto"
    if fast:
        from .segments import OneWriteProtocol  # head and body in one write, as Kestrel (imports httptools)

        http = OneWriteProtocol
    config = uvicorn.Config(app, host=options.host, port=port, loop="uvloop" if fast else "auto",
                            http=http, lifespan="off", access_log=False,
                            server_header=False, proxy_headers=False, log_level="warning",
                            timeout_graceful_shutdown=GRACEFUL_SECONDS, log_config=None)
    server = _Server(config, app, functions, root, f"http://{shown_host}:{port}", out, started_at)
    try:
        server.run()  # uvicorn re-raises SIGINT/SIGTERM once shut down, so the exit status tells the signal
    except KeyboardInterrupt:
        pass
    finally:
        app.worker.stop()
    return 0 if server.started else 1
