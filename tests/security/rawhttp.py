"""HTTP/1.1 over a bare socket, for requests no client library will send as written: raw request
targets (``..``, ``%2e``, backslashes, overlong UTF-8), forged Host headers, oversized or trickled
messages. Loopback only; every call has a deadline."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawResponse:
    status: int  # 0: the server closed the connection without an answer
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def parse(data: bytes) -> RawResponse:
    if not data:
        return RawResponse(0, {}, b"")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        decoded, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2:]
        body = decoded
    return RawResponse(status, headers, body)


def connect(base_url: str, timeout: float = 30.0, source: str | None = None) -> socket.socket:
    parts = urlsplit(base_url)
    assert parts.hostname in ("127.0.0.1", "localhost"), "loopback only"
    sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout,
                                    source_address=(source, 0) if source else None)
    return sock


def read_all(sock: socket.socket, deadline: float) -> bytes:
    chunks = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def send(base_url: str, method: str, target: str | bytes, headers: list[tuple[str, str]] | None = None,
         body: bytes = b"", *, host: str | None = None, timeout: float = 30.0) -> RawResponse:
    """One request with ``target`` sent byte for byte; ``Connection: close``; the parsed answer."""
    parts = urlsplit(base_url)
    raw_target = target if isinstance(target, bytes) else target.encode("latin-1")
    lines = [f"{method} ".encode() + raw_target + b" HTTP/1.1",
             f"Host: {host if host is not None else parts.netloc}".encode("latin-1")]
    for name, value in headers or []:
        lines.append(f"{name}: {value}".encode("latin-1"))
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}".encode())
    lines.append(b"Connection: close")
    with connect(base_url, timeout) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        return parse(read_all(sock, time.monotonic() + timeout))
