"""What one HTTP request costs a Python server on this machine, before any hotfn work
(not a test): prints medians.

    .venv/bin/python bench/bench_http_floor.py [--calls 20000] [--callers 4] [--rounds 5]

Three servers, each in its own process on uvloop, answer ``POST /``:

- ``uvicorn``: uvicorn with hotfn's own protocol class (httptools, head and body in
  one write: hotfn/http_protocol.py) and a raw ASGI app, i.e. the stack hotfn's call
  paths sit on;
- ``httptools``: an ``asyncio.Protocol`` that parses with httptools and writes a
  fixed answer: the least a Python server on this loop can do per request;
- ``relay``: the ``uvicorn`` stack whose app sends each request on to an echo on
  hotfn's FDK (its own process, a unix socket, as a hot container's) with hotfn's
  container client (``hotfn.agent.transport``: kept-alive connection, the two
  headers every call carries) and answers with what came back: a hot call's two
  connections and nothing else of hotfn (no agent, pool, deadline, record, limits).

``uvicorn`` minus ``httptools`` is the most a protocol of hotfn's own for the call
paths (no ASGI scope, task or cycle per request) could save; ``relay`` is the floor
under a hot call's server CPU for this design in Python (docs/performance.md, "What
is left").
Rounds alternate the servers; per round: the server's CPU per request (user + system
of its process, ``/proc/PID/stat``, over ``--calls`` requests at ``--callers``
connections, less its idle rate), requests/s, and the p50 of ``--sequential``
requests one at a time; and the same p50 straight to the echo's socket (what
``bench_agent`` calls a hot call's overhead is measured against that).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchhttp import Conn, latencies, post, tcp_conn, unix_conn  # noqa: E402  (beside this script)
from benchserver import callgrind_dump, callgrind_idle, callgrind_prefix, proc_times  # noqa: E402

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
    "relay": """
        import uvicorn
        from hotfn.agent.transport import ContainerClient
        from hotfn.http_protocol import CoalescingHttpToolsProtocol

        client = ContainerClient("SOCKET")
        HEADERS = [("Fn-Call-Id", "01KBENCH0000000000000000000"),
                   ("Fn-Deadline", "2030-01-01T00:00:00.000Z")]

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            message = await receive()
            result = await client.open(HEADERS, message["body"])
            headers = result.headers
            headers.append((b"content-length", str(len(result.body)).encode()))
            await send({"type": "http.response.start", "status": result.status,
                        "headers": headers})
            await send({"type": "http.response.body", "body": result.body})

        uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning",
                    access_log=False, lifespan="off", loop="uvloop",
                    http=CoalescingHttpToolsProtocol)
    """,
    "relay-raw": """
        import asyncio, httptools, uvloop

        HEAD = (b"POST /call HTTP/1.1\\r\\nHost: localhost\\r\\n"
                b"Fn-Call-Id: 01KBENCH0000000000000000000\\r\\n"
                b"Fn-Deadline: 2030-01-01T00:00:00.000Z\\r\\n")

        class Side(asyncio.Protocol):  # one connection: collects each message's body
            def data_received(self, data):
                self.parser.feed_data(data)

            def on_body(self, body):
                self.body.append(body)

            def on_message_complete(self):
                body = b"".join(self.body)
                self.body = []
                self.complete(body)

        class Upstream(Side):
            def __init__(self):
                self.parser = httptools.HttpResponseParser(self)
                self.client = None
                self.body = []

            def connection_made(self, transport):
                self.transport = transport

            def complete(self, body):
                client, self.client = self.client, None
                client.answer(self.parser.get_status_code(), body)

        class Client(Side):
            def __init__(self):
                self.parser = httptools.HttpRequestParser(self)
                self.body = []
                self.upstream = self.pending = None

            def connection_made(self, transport):
                self.transport = transport
                # One kept-alive upstream connection per client connection.
                task = loop.create_task(loop.create_unix_connection(Upstream, "SOCKET"))
                task.add_done_callback(self.connected)

            def connected(self, task):
                self.upstream = task.result()[1]
                if self.pending is not None:
                    self.forward(self.pending)

            def complete(self, body):
                if self.upstream is None:
                    self.pending = body
                else:
                    self.forward(body)

            def forward(self, body):
                self.upstream.client = self
                self.upstream.transport.write(
                    HEAD + b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body)

            def answer(self, status, body):
                self.transport.write(b"HTTP/1.1 %d OK\\r\\ncontent-length: %d\\r\\n\\r\\n"
                                     % (status, len(body)) + body)

        async def main():
            global loop
            loop = asyncio.get_running_loop()
            server = await loop.create_server(Client, "127.0.0.1", PORT)
            await server.serve_forever()

        uvloop.run(main())
    """,
}
ECHO = "def handler(ctx, data):\n    return b'hello'\n"

REQUEST = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nping"
# The same call straight to the echo's socket, as the relay sends it.
DIRECT = post("/call", b"ping", "Fn-Call-Id: 01KBENCH0000000000000000000\r\n"
              "Fn-Deadline: 2030-01-01T00:00:00.000Z\r\n")  # fmt: skip


def cpu_seconds(pid: int) -> float:
    user, system, _, _ = proc_times(pid)
    return user + system


def start(
    name: str, socket_path: str, prefix: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    code = textwrap.dedent(SERVERS[name]).replace("PORT", str(port))
    code = code.replace("SOCKET", socket_path)
    proc = subprocess.Popen([*prefix, sys.executable, "-c", code], cwd=ROOT)
    give_up = time.monotonic() + (120 if prefix else 20)
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


def start_echo(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """hotfn's FDK serving ``ECHO`` on ``work/lsnr.sock`` (what ``relay`` calls)."""
    (work / "func.py").write_text(ECHO)
    sock = work / "lsnr.sock"
    env = {**os.environ, "FN_LISTENER": f"unix:{sock}", "FN_FORMAT": "http-stream"}
    proc = subprocess.Popen([sys.executable, "-m", "hotfn.fdk", f"{work}/func.py:handler"],
                            cwd=ROOT, env=env)  # fmt: skip
    give_up = time.monotonic() + 20
    while not sock.exists():
        if time.monotonic() > give_up or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("the FDK echo did not start")
        time.sleep(0.05)
    return proc, str(sock)


async def sequential(conn: Conn, raw: bytes, n: int) -> float:
    """p50 in ms of ``n`` requests one after another."""
    return statistics.median(await latencies(conn, raw, n))


async def one_round(
    name: str, args: argparse.Namespace, socket_path: str
) -> tuple[float, float, float]:
    """(µs of server CPU per request, requests/s, sequential p50 in ms)."""
    proc, port = start(name, socket_path)
    try:
        await load(port, 500, args.callers)  # warm-up
        conn = await tcp_conn(port)
        p50 = await sequential(conn, REQUEST, args.sequential)
        conn.close()
        idle0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        await asyncio.sleep(0.5)
        idle_rate = (cpu_seconds(proc.pid) - idle0) / (time.perf_counter() - t0)
        cpu0 = cpu_seconds(proc.pid)
        took = await load(port, args.calls, args.callers)
        busy = cpu_seconds(proc.pid) - cpu0 - idle_rate * took
        return busy / args.calls * 1e6, args.calls / took, p50
    finally:
        proc.terminate()
        proc.wait(10)


async def instructions(name: str, socket_path: str, calls: int) -> float:
    """Instructions per sequential request of ``name``'s process under callgrind
    (counters zeroed after warm-up; an idle window's rate subtracted)."""
    with tempfile.TemporaryDirectory(prefix="hotfn-floor-cg-") as work:
        out = Path(work) / "callgrind.out"
        proc, port = start(name, socket_path, callgrind_prefix(out))
        try:
            conn = await tcp_conn(port)
            await sequential(conn, REQUEST, 300)  # warm-up
            idle_rate = await callgrind_idle(proc.pid, out, 2.0)
            t0 = time.perf_counter()
            await sequential(conn, REQUEST, calls)
            busy_s = time.perf_counter() - t0
            busy = await asyncio.to_thread(callgrind_dump, proc.pid, out)
            conn.close()
            return (busy - idle_rate * busy_s) / calls
        finally:
            proc.terminate()
            proc.wait(30)


async def main(args: argparse.Namespace) -> None:
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in SERVERS}
    straight = []
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="hotfn-floor-") as work:
        echo, socket_path = start_echo(Path(work))
        try:
            for _ in range(args.rounds):
                for name in SERVERS:
                    results[name].append(await one_round(name, args, socket_path))
                conn = await unix_conn(socket_path)
                straight.append(await sequential(conn, DIRECT, args.sequential))
                conn.close()
            counts = {}
            if args.callgrind:
                for name in SERVERS:
                    counts[name] = await instructions(name, socket_path, args.callgrind_calls)
        finally:
            echo.terminate()
            echo.wait(10)
    print(f"POST / answered with 5 bytes, {args.calls} requests at {args.callers} callers, "
          f"medians of {args.rounds} alternated rounds")  # fmt: skip
    cpu, p50 = {}, {}
    for name, rows in results.items():
        cpu[name] = statistics.median(r[0] for r in rows)
        rate = statistics.median(r[1] for r in rows)
        p50[name] = statistics.median(r[2] for r in rows)
        print(f"  {name:10s} {cpu[name]:6.1f} µs server CPU per request  {rate:7.0f} req/s  "
              f"sequential p50 {p50[name]:.3f} ms")  # fmt: skip
    direct = statistics.median(straight)
    print(f"  straight to the echo's socket: sequential p50 {direct:.3f} ms")
    print(f"  uvicorn's own share: {cpu['uvicorn'] - cpu['httptools']:.1f} µs per request")
    print(f"  the second connection (relay minus uvicorn): {cpu['relay'] - cpu['uvicorn']:.1f} µs")
    print(f"  the relay's overhead over the straight call: {p50['relay'] - direct:.3f} ms p50")
    if counts:
        print(f"callgrind, {args.callgrind_calls} sequential requests: instructions per request")
        for name, count in counts.items():
            print(f"  {name:10s} {count / 1e6:.3f} M")
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000, help="requests per round")
    parser.add_argument("--callers", type=int, default=4, help="concurrent connections")
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds")
    parser.add_argument("--sequential", type=int, default=2000, help="sequential requests")
    parser.add_argument("--callgrind", action="store_true", help="also count instructions")
    parser.add_argument("--callgrind-calls", type=int, default=1000, help="requests counted")
    asyncio.run(main(parser.parse_args()))
