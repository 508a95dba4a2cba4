"""The local host sends a response's head and body in one write, as Kestrel does (devtools/funchost/segments.py)."""

from __future__ import annotations

import asyncio

import httpx

from devtools.funchost.segments import CoalescingTransport


class RecordingTransport:
    """The socket side: records what reaches it."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)
        self.events.append("write")

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 7071) if name == "sockname" else default


def test_a_head_and_its_body_reach_the_socket_as_one_write_and_a_lone_write_by_the_end_of_the_turn() -> None:
    async def scenario() -> list[list[bytes]]:
        socket_side = RecordingTransport()
        transport = CoalescingTransport(socket_side, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        seen = [list(socket_side.written)]  # the head alone is held
        transport.write(memoryview(b"ok"))
        seen.append(list(socket_side.written))  # with its body: sent at once, together
        transport.write(b"HTTP/1.1 304 Not Modified\r\n\r\n")
        seen.append(list(socket_side.written))
        await asyncio.sleep(0)
        seen.append(list(socket_side.written))  # a response without body leaves by the end of the turn
        return seen

    head = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
    assert asyncio.run(scenario()) == [[], [head + b"ok"], [head + b"ok"],
                                       [head + b"ok", b"HTTP/1.1 304 Not Modified\r\n\r\n"]]


def test_close_sends_what_is_pending_first_and_a_closing_socket_gets_nothing() -> None:
    async def scenario() -> tuple[RecordingTransport, RecordingTransport]:
        loop = asyncio.get_running_loop()
        closed_by_us, closed_by_peer = RecordingTransport(), RecordingTransport()
        transport = CoalescingTransport(closed_by_us, loop)  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
        transport.close()
        other = CoalescingTransport(closed_by_peer, loop)  # type: ignore[arg-type]
        other.write(b"late")
        closed_by_peer.closing = True  # the client went away before the turn ended
        await asyncio.sleep(0)
        assert transport.get_extra_info("sockname") == ("127.0.0.1", 7071)  # everything else passes through
        return closed_by_us, closed_by_peer

    closed_by_us, closed_by_peer = asyncio.run(scenario())
    assert closed_by_us.events == ["write", "close"]
    assert closed_by_us.written == [b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n"]
    assert closed_by_peer.written == []


def test_the_host_still_answers_over_keep_alive_head_and_large_bodies(funchost) -> None:  # noqa: ANN001
    host = funchost({"GATEWAY_ENVIRONMENT": "development"})
    with httpx.Client(base_url=host.base_url) as client:
        for _ in range(3):  # one connection, several responses
            response = client.get("/fhir/metadata")
            assert response.status_code == 200
            assert response.json()["resourceType"] == "CapabilityStatement"
        head = client.head("/fhir/metadata")
        assert head.status_code == 200 and head.content == b""
        assert client.get("/fhir/metadata").json()["resourceType"] == "CapabilityStatement"
