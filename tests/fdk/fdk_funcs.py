"""Handlers the FDK tests serve (loaded by path: python3 -m hotfn.fdk FILE:NAME)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from hotfn import fdk


def echo(ctx: fdk.Context, data: bytes) -> bytes:
    return data


async def echo_async(ctx: fdk.Context, data: bytes) -> bytes:
    await asyncio.sleep(0)
    return data


def context(ctx: fdk.Context, data: bytes) -> dict[str, Any]:
    return {
        "call_id": ctx.call_id,
        "deadline": ctx.deadline.isoformat() if ctx.deadline else None,
        "remaining": ctx.remaining(),
        "is_http": ctx.is_http,
        "method": ctx.method,
        "request_url": ctx.request_url,
        "query": ctx.query,
        "http_headers": {k: ctx.http_headers[k] for k in ctx.http_headers},
        "accept_all": ctx.http_headers.get_all("accept"),
        "content_type": ctx.content_type,
        "app_id": ctx.app_id,
        "app_name": ctx.app_name,
        "fn_id": ctx.fn_id,
        "fn_name": ctx.fn_name,
        "memory_mb": ctx.memory_mb,
        "config_greeting": ctx.config.get("GREETING"),
        "raw_call_header": ctx.headers.get("fn-call-id"),
        "body": data.decode(),
    }


def respond(ctx: fdk.Context, data: bytes) -> fdk.Response:
    return fdk.Response(
        "created " + data.decode(),
        status=201,
        headers={"Location": "/items/7", "Set-Cookie": ["a=1", "b=2"], "Content-Length": "999"},
    )


def as_text(ctx: fdk.Context, data: bytes) -> str:
    return "héllo"


def nothing(ctx: fdk.Context, data: bytes) -> None:
    return None


def boom(ctx: fdk.Context, data: bytes) -> bytes:
    raise ValueError("boom: " + data.decode())


async def boom_async(ctx: fdk.Context, data: bytes) -> bytes:
    raise KeyError("missing")


def bad_return(ctx: fdk.Context, data: bytes) -> object:
    return 42


def bad_header(ctx: fdk.Context, data: bytes) -> fdk.Response:
    return fdk.Response(b"", headers={"X-Evil": "a\r\nInjected: yes"})


def sleepy(ctx: fdk.Context, data: bytes) -> bytes:
    time.sleep(float(data or b"0"))
    return b"slept " + data


async def sleepy_async(ctx: fdk.Context, data: bytes) -> bytes:
    await asyncio.sleep(float(data or b"0"))
    return b"slept " + data


class Counter:
    """A callable object with an async __call__ that keeps state across calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, ctx: fdk.Context, data: bytes) -> str:
        self.calls += 1
        return str(self.calls)


counter = Counter()


def two_args_missing(ctx: fdk.Context) -> bytes:
    return b""


if __name__ == "__main__":
    fdk.handle(echo)


def lines(ctx: fdk.Context, data: bytes) -> Iterator[bytes | str]:
    """A generator: its pieces are streamed (the body says how many lines)."""
    for i in range(int(data or b"3")):
        yield f"line {i}\n"


async def lines_async(ctx: fdk.Context, data: bytes) -> AsyncIterator[bytes]:
    for i in range(int(data or b"3")):
        await asyncio.sleep(0)
        yield b"line %d\n" % i


def lines_then_boom(ctx: fdk.Context, data: bytes) -> Iterator[bytes]:
    yield b"first\n"
    raise RuntimeError("after the first line")
