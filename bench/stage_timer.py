"""Times named functions of the gateway inside a worker (for ``bench.proxy_stages``); inert unless installed.

``install(out)`` wraps each function in :data:`STAGES` that exists in the tree (a stage a refactoring renamed is
listed as missing, never an error) with a wrapper that records its wall time, awaits included, and writes every
sample as JSON to ``out`` when the process exits. The wrapper is installed on the module or class attribute,
before the function app is loaded, so every caller that looks the name up (or imports it afterwards) is timed.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import inspect
import json
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

STAGES: tuple[tuple[str, str], ...] = (
    # (label, "module:attribute path"), outermost first; indentation of the label shows nesting
    ("serve (whole function)", "gateway.azure_http:serve"),
    ("  from_azure", "gateway.azure_http:from_azure"),
    ("  to_azure", "gateway.azure_http:to_azure"),
    ("  entry", "gateway.entry:enter"),
    ("    proxy handle", "gateway.proxy.forward:FhirProxy.handle"),
    ("      authenticate", "gateway.proxy.forward:FhirProxy._authenticate"),
    ("      check", "gateway.proxy.forward:_check"),
    ("      forward", "gateway.proxy.forward:FhirProxy._forward"),
    ("        transport send", "gateway.outbound.transport:AiohttpTransport.send"),
    ("        answer", "gateway.proxy.forward:FhirProxy._answer"),
    ("      access line", "gateway.proxy.forward:_Log.emit"),
)

samples: dict[str, list[float]] = {}


def _timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    recorded = samples.setdefault(label, [])
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                recorded.append(time.perf_counter() - started)
        return timed_coroutine

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            recorded.append(time.perf_counter() - started)
    return timed


def install(out: str) -> list[str]:
    """Wrap every stage found; returns the labels of the stages this tree does not have."""
    missing = []
    for label, target in STAGES:
        module_name, _, path = target.partition(":")
        try:
            owner: Any = importlib.import_module(module_name)
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            function = getattr(owner, name)
        except (ImportError, AttributeError):
            missing.append(label)
            continue
        setattr(owner, name, _timed(label, function))
    atexit.register(_write, out, missing)
    # The local host re-raises SIGTERM once it has shut down (so its exit status tells the signal): the handler
    # found then is this one, which writes the samples before the process ends.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return missing


def _write(out: str, missing: list[str]) -> None:
    with open(out, "w", encoding="utf-8") as file:
        json.dump({"samples": samples, "missing": missing}, file)
