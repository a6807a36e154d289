"""The least an HTTP upstream can be, for bench_cluster's baseline: answers every
keep-alive request on 127.0.0.1:PORT with ``200 hello``, doing nothing else, so
that nginx in front of it shows what one more hop costs on this machine.

    python bench/trivial_upstream.py PORT [DELAY_MS]

With DELAY_MS each answer is sent that long after its request (a timer, no CPU), as
if the upstream were running a call.
"""

from __future__ import annotations

import asyncio
import sys

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"


class Answer(asyncio.Protocol):
    def __init__(self, delay_s: float) -> None:
        self.buf = b""
        self.delay_s = delay_s
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end].lower()
            i = head.find(b"content-length:")
            length = int(head[i + 15 :].split(b"\r\n", 1)[0]) if i >= 0 else 0
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            assert self.transport is not None
            if self.delay_s:
                asyncio.get_running_loop().call_later(self.delay_s, self.transport.write, ANSWER)
            else:
                self.transport.write(ANSWER)


async def main(port: int, delay_ms: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Answer(delay_ms / 1000), "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0))
