"""A response's head and body in one write, as Kestrel sends them.

Kestrel (the Functions host's server) holds the status line and headers until the first body
write or the end of the response, so a small response leaves in one write. uvicorn writes
``http.response.start`` and each ``http.response.body`` as they come: two writes, and on a busy
machine two wake-ups of the client, the first of which finds only the head. :class:`OneWriteProtocol`
is uvicorn's httptools protocol over :class:`CoalescingTransport`, which holds a write until the next
one (the head until its body) and at most until the end of the event loop's turn (or a close).
Nothing else changes: the same bytes, in the same order, on the same connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """Wraps a transport: a write is held until the next one (then both leave together, at once) or until
    the end of the loop turn, whichever comes first; so a head followed by its body is one write."""

    __slots__ = ("_held", "_loop", "_scheduled", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._held is None:
            self._held = bytes(data)
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._end_of_turn)
            return
        held, self._held = self._held, None
        if not self._transport.is_closing():
            self._transport.write(held + bytes(data))

    def _end_of_turn(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Hand a held write to the socket (dropped when the connection is closing)."""
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

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
