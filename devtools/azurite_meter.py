"""A counting proxy in front of Azurite's Table service: how many Table calls, and entities read, each costs.

The gateway (or a benchmark's worker) is pointed at the proxy instead of Azurite (:attr:`TableMeter.connection_string`);
every request is forwarded unchanged (SharedKey signatures cover the path and the date, never the host) and
counted by table and operation, the way Table Storage's scalability targets count them
(https://learn.microsoft.com/azure/storage/tables/scalability-targets): one transaction per request (an entity
group transaction is one, its operations counted beside it), and each entity a read returns.

Labels are ``<table>.<operation>`` with the table name's prefix removed (``clients.get``, ``authfailures.query``,
``replay.insert``, ``routes.batch``...); ``entities_read`` adds up the entities point reads and queries returned.
Only tables whose names start with ``prefix`` are counted, so several test runs can share one Azurite.

In-process (tests): ``async with TableMeter(azurite_endpoint, prefix) as meter: ...``; from another thread
(benchmarks): :meth:`TableMeter.start_in_thread`. ``GET``/``DELETE /_meter/counts`` read and reset the counts
over HTTP, for a worker in another process.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import Counter
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from devtools.azurite import ACCOUNT_KEY, ACCOUNT_NAME

CONTROL_PATH = "/_meter/counts"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "upgrade",
               "proxy-connection", "trailer"}
_ENTITY_PATH = re.compile(r"^/[^/]+/(?P<table>[A-Za-z][A-Za-z0-9]*)(?P<keys>\(.*\))?$")
_BATCH_OPERATION = re.compile(rb"^(GET|POST|PUT|MERGE|PATCH|DELETE) http\S*/(?P<table>[A-Za-z][A-Za-z0-9]*)",
                              re.MULTILINE)


def _verb(method: str, keys: str | None) -> str:
    if method == "GET":
        return "get" if keys and keys != "()" else "query"
    if method == "POST":
        return "insert"
    return {"PUT": "replace", "MERGE": "merge", "PATCH": "merge", "DELETE": "delete"}.get(method, method.lower())


class TableMeter:
    """The proxy and its counts (see the module docstring)."""

    def __init__(self, upstream: str, prefix: str = "", *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.prefix = prefix
        self.host, self.port = host, port
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def table_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
                f"TableEndpoint={self.table_endpoint};")

    # -- counting ---------------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def reset(self) -> dict[str, int]:
        with self._lock:
            counts = dict(self.counts)
            self.counts.clear()
            return counts

    def _label(self, table: str) -> str | None:
        if not table.startswith(self.prefix) or table == "Tables":
            return None
        return table[len(self.prefix):] or table

    def _count(self, method: str, path: str, body: bytes, status: int, payload: bytes) -> None:
        match = _ENTITY_PATH.match(path.split("?")[0])
        if match is None:
            if path.split("?")[0].endswith("/$batch"):
                self._count_batch(body)
            return
        label = self._label(match["table"])
        if label is None:
            return
        verb = _verb(method, match["keys"])
        read = 0
        if verb == "get" and status == 200:
            read = 1
        elif verb == "query" and status == 200:
            read = len(json.loads(payload or b"{}").get("value", []))
        with self._lock:
            self.counts[f"{label}.{verb}"] += 1
            self.counts["transactions"] += 1
            self.counts["entities_read"] += read

    def _count_batch(self, body: bytes) -> None:
        operations = [(m[1].decode(), m["table"].decode()) for m in _BATCH_OPERATION.finditer(body)]
        labels = {self._label(table) for _, table in operations}
        if not operations or None in labels:
            return
        with self._lock:
            self.counts[f"{sorted(labels)[0]}.batch"] += 1  # type: ignore[type-var]
            self.counts[f"{sorted(labels)[0]}.batch_operations"] += len(operations)  # type: ignore[type-var]
            self.counts["transactions"] += 1

    # -- serving ----------------------------------------------------------------------------------------------
    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if request.path == CONTROL_PATH:
            counts = self.reset() if request.method == "DELETE" else self.snapshot()
            return web.json_response(counts)
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = URL(self.upstream + request.raw_path, encoded=True)
        async with self._session.request(request.method, url, headers=headers, data=body or None,
                                         allow_redirects=False) as upstream:
            payload = await upstream.read()
            answer_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            status = upstream.status
        self._count(request.method, request.raw_path, body, status, payload)
        return web.Response(status=status, body=payload, headers=answer_headers)

    async def start(self) -> TableMeter:
        self._session = aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> TableMeter:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def start_in_thread(self) -> TableMeter:
        """Serve from a thread of its own (its own event loop); :meth:`stop_thread` ends it."""
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.stop())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="table-meter", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the Table meter did not start")
        return self

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._thread = self._loop = None


def read_counts(base_url: str, *, reset: bool = False) -> dict[str, Any]:
    """The counts of a meter (``http://host:port``) over HTTP, from any process; ``reset`` clears them."""
    import urllib.request

    request = urllib.request.Request(base_url.rstrip("/") + CONTROL_PATH, method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback, our own URL
        return dict(json.loads(response.read()))
