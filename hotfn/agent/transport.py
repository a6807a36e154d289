"""Calls into a hot container over its unix socket (aiohttp, kept-alive).

One ``ClientSession`` with one ``UnixConnector`` per container: the connection is
opened once and reused for every call (measured 6–7× faster than httpx here). Cookies,
automatic headers and automatic decompression are off: hotfn is a proxy, the body and
headers must pass through untouched and cheaply.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from hotfn.agent.httpstream import CallResult, Headers, clean_response_headers


class ConnectFailed(Exception):
    """The socket refused the connection: nothing was sent, the call may be retried
    on another container."""


class BrokenResponse(Exception):
    """The connection broke or the answer was not valid HTTP (after sending)."""


class ContainerClient:
    """HTTP/1.1 client bound to one container's ``lsnr.sock``."""

    def __init__(self, socket_path: Path, concurrency: int = 1) -> None:
        self.socket_path = socket_path
        connector = aiohttp.UnixConnector(
            path=str(socket_path),
            limit=max(1, concurrency),
            # The container may idle for its whole idle_timeout between calls; the
            # FDK keeps the connection, so should we.
            keepalive_timeout=3600,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None),
            # Function headers can be large (Fn allows big header blocks).
            max_field_size=64 * 1024,
            max_line_size=64 * 1024,
        )

    async def call(self, headers: Headers, body: bytes) -> CallResult:
        """``POST /call``; raises ``ConnectFailed`` or ``BrokenResponse``."""
        try:
            async with self._session.post(
                "http://localhost/call", data=body, headers=headers
            ) as resp:
                data = await resp.read()
                return CallResult(resp.status, clean_response_headers(resp.raw_headers), data)
        except aiohttp.ClientConnectorError as exc:
            raise ConnectFailed(str(exc)) from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise BrokenResponse(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        await self._session.close()
