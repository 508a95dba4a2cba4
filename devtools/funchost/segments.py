"""A response's head and body in one write, as Kestrel sends them.

Kestrel (the Functions host's server) holds the status line and headers until the first body
write or the end of the response, so a small response leaves in one write. uvicorn writes
``http.response.start`` and each ``http.response.body`` as they come: two writes, and on a busy
machine two wake-ups of the client, the first of which finds only the head. :class:`OneWriteProtocol`
is uvicorn's httptools protocol over :class:`CoalescingTransport`, which gathers the writes made in
one turn of the event loop and hands them to the socket together at the end of that turn (before
any close). Nothing else changes: the same bytes, in the same order, on the same connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """Wraps a transport: ``write`` calls made in one loop turn become one ``write`` at the turn's end."""

    __slots__ = ("_loop", "_pending", "_scheduled", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._pending.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hand what was written so far to the socket (nothing when the connection is closing)."""
        self._scheduled = False
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        if not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:  # get_extra_info, is_closing, pause_reading, set_protocol...
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
