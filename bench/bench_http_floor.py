"""What one HTTP request costs a Python server on this machine, before any hotfn work
(not a test): prints medians.

    .venv/bin/python bench/bench_http_floor.py [--calls 20000] [--callers 4] [--rounds 5]

Two servers answer ``POST /`` with 5 bytes, each in its own process on uvloop:

- ``uvicorn``: uvicorn with hotfn's own protocol class (httptools, head and body in
  one write: hotfn/http_protocol.py) and a raw ASGI app, i.e. the stack hotfn's call
  paths sit on;
- ``httptools``: an ``asyncio.Protocol`` that parses with httptools and writes a
  fixed answer: the least a Python server on this loop can do per request.

Their difference is the most a protocol of hotfn's own for the call paths (no ASGI
scope, task or cycle per request) could save (docs/performance.md, "What is left").
Rounds alternate the two; per round: the server's CPU per request (user + system of
its process, ``/proc/PID/stat``, over ``--calls`` requests at ``--callers``
connections, less its idle rate) and requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchhttp import Conn, tcp_conn  # noqa: E402  (beside this script)
from benchserver import proc_times  # noqa: E402

from tests.server_support import free_port  # noqa: E402

SERVERS = {
    "uvicorn": """
        import uvicorn
        from hotfn.http_protocol import CoalescingHttpToolsProtocol

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await receive()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"5")]})
            await send({"type": "http.response.body", "body": b"hello"})

        uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning",
                    access_log=False, lifespan="off", loop="uvloop",
                    http=CoalescingHttpToolsProtocol)
    """,
    "httptools": """
        import asyncio, httptools, uvloop

        ANSWER = b"HTTP/1.1 200 OK\\r\\ncontent-length: 5\\r\\n\\r\\nhello"

        class Proto(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport
                self.parser = httptools.HttpRequestParser(self)

            def data_received(self, data):
                self.parser.feed_data(data)

            def on_message_complete(self):
                self.transport.write(ANSWER)

        async def main():
            loop = asyncio.get_running_loop()
            server = await loop.create_server(Proto, "127.0.0.1", PORT)
            await server.serve_forever()

        uvloop.run(main())
    """,
}

REQUEST = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nping"


def cpu_seconds(pid: int) -> float:
    user, system, _, _ = proc_times(pid)
    return user + system


def start(name: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    code = textwrap.dedent(SERVERS[name]).replace("PORT", str(port))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    give_up = time.monotonic() + 20
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        if time.monotonic() > give_up or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"{name} server did not start")
        time.sleep(0.05)


async def load(port: int, calls: int, callers: int) -> float:
    """Wall seconds for ``calls`` requests over ``callers`` connections."""
    conns = [await tcp_conn(port) for _ in range(callers)]
    left = calls

    async def caller(conn: Conn) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status, _, body = await conn.send(REQUEST)
            assert status == 200 and body == b"hello", (status, body)

    t0 = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in conns))
    took = time.perf_counter() - t0
    for conn in conns:
        conn.close()
    return took


async def one_round(name: str, args: argparse.Namespace) -> tuple[float, float]:
    """(µs of server CPU per request, requests/s)."""
    proc, port = start(name)
    try:
        await load(port, 500, args.callers)  # warm-up
        idle0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        await asyncio.sleep(0.5)
        idle_rate = (cpu_seconds(proc.pid) - idle0) / (time.perf_counter() - t0)
        cpu0 = cpu_seconds(proc.pid)
        took = await load(port, args.calls, args.callers)
        busy = cpu_seconds(proc.pid) - cpu0 - idle_rate * took
        return busy / args.calls * 1e6, args.calls / took
    finally:
        proc.terminate()
        proc.wait(10)


async def main(args: argparse.Namespace) -> None:
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in SERVERS}
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} load {os.getloadavg()}")
    for _ in range(args.rounds):
        for name in SERVERS:
            results[name].append(await one_round(name, args))
    print(f"POST / answered with 5 bytes, {args.calls} requests at {args.callers} callers, "
          f"medians of {args.rounds} alternated rounds")  # fmt: skip
    cpu = {}
    for name, rows in results.items():
        cpu[name] = statistics.median(r[0] for r in rows)
        rate = statistics.median(r[1] for r in rows)
        print(f"  {name:10s} {cpu[name]:6.1f} µs server CPU per request  {rate:7.0f} req/s")
    print(f"  uvicorn's own share: {cpu['uvicorn'] - cpu['httptools']:.1f} µs per request")
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000, help="requests per round")
    parser.add_argument("--callers", type=int, default=4, help="concurrent connections")
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds")
    asyncio.run(main(parser.parse_args()))
