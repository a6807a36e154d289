"""The server's HTTP protocol: a response's head and body leave in one write."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from hotfn.http_protocol import CoalescingTransport


class Recorder:
    """A transport that records writes and close."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.extra = {"peername": ("127.0.0.1", 1)}
        self.reading = True
        self.protocol: object = None

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def set_protocol(self, protocol: object) -> None:
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)


@pytest.fixture
def make_transport() -> Callable[[], tuple[CoalescingTransport, Recorder]]:
    def make() -> tuple[CoalescingTransport, Recorder]:
        inner = Recorder()
        return CoalescingTransport(inner, asyncio.get_running_loop()), inner  # type: ignore[arg-type]

    return make


async def test_head_and_body_are_one_write(make_transport: Any) -> None:
    t, inner = make_transport()
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
    assert inner.writes == []
    t.write(b"hello")
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"]
    t.write(b"more")  # not a head: at once
    assert inner.writes[-1] == b"more"


async def test_a_head_alone_leaves_by_the_end_of_the_turn(make_transport: Any) -> None:
    t, inner = make_transport()
    t.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")  # a stream
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]


async def test_close_sends_what_is_held_first(make_transport: Any) -> None:
    t, inner = make_transport()
    t.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    t.close()
    assert inner.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"] and inner.closed
    assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest is the transport's


async def test_uvicorns_calls_reach_the_transport(make_transport: Any) -> None:
    t, inner = make_transport()
    t.pause_reading()
    assert not inner.reading
    t.resume_reading()
    assert inner.reading
    assert t.get_extra_info("sockname", "none") == "none"
    assert not t.is_closing()
    t.set_protocol("p")  # not wrapped: straight to the transport's own
    assert inner.protocol == "p"
    t.close()
    assert t.is_closing()
