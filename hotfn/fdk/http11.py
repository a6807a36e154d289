"""HTTP/1.1 on an asyncio stream: request parsing (fixed-length and chunked) and
response encoding.

This is the wire layer shared by the FDK and hotwrap; both run inside function
containers, so it uses only the standard library and stays Python 3.8 compatible.
It implements what the hot contract needs (design.md §2) and nothing else: one
request at a time per connection, keep-alive, ``Expect: 100-continue``, and strict
parsing, because a request we misread would desynchronise the whole connection.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING

# The request line plus headers. Go's http.Server allows 1 MiB; Fn adds one
# Fn-Http-H-* header per client header, so a generous limit is right here too.
MAX_HEAD_BYTES = 1 << 20
# How much body one read hands out: big enough to keep syscalls rare on 20 MB
# bodies, small enough to bound memory when streaming.
READ_CHUNK = 1 << 18
# Bodies up to this size are sent in the same write as the head (one syscall);
# larger ones are written separately so the body is never copied to prepend it.
_COALESCE_LIMIT = 1 << 16

# Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the
# framing each hop recomputes (Host, Content-Length) and Expect (answered by the hop
# itself). The one set for hotfn: the agent imports it from here, because this
# module must stay standard-library-only and importable alone inside containers.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "expect",
    }
)

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}\Z")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

if TYPE_CHECKING:
    _MappingBase = Mapping[str, str]
else:  # collections.abc generics cannot be subscripted at run time before 3.9
    _MappingBase = Mapping


class HTTPError(Exception):
    """A request that cannot be served; ``status`` is the answer it gets."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Headers(_MappingBase):
    """Case-insensitive, ordered, multi-valued HTTP headers.

    ``headers["x-a"]`` joins repeated fields with ``", "`` (RFC 9110 §5.3);
    :meth:`get_all` returns them separately and :attr:`pairs` keeps the raw fields
    in arrival order with their original spelling.
    """

    __slots__ = ("_index", "pairs")

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self.pairs: list[tuple[str, str]] = list(pairs)
        # lower-cased name -> (name as first seen, values)
        self._index: dict[str, tuple[str, list[str]]] = {}
        for name, value in self.pairs:
            entry = self._index.get(name.lower())
            if entry is None:
                self._index[name.lower()] = (name, [value])
            else:
                entry[1].append(value)

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._index[name.lower()][1])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return (entry[0] for entry in self._index.values())

    def __len__(self) -> int:
        return len(self._index)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in arrival order (empty if absent)."""
        entry = self._index.get(name.lower())
        return list(entry[1]) if entry else []

    def __repr__(self) -> str:
        return f"Headers({self.pairs!r})"


class RequestHead:
    """The request line and headers of one request, with its framing decided."""

    __slots__ = (
        "chunked",
        "content_length",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "target",
        "version",
    )

    def __init__(self, method: str, target: str, version: str, headers: Headers) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.chunked = False
        self.content_length = 0
        self._frame()
        tokens = {t.strip().lower() for v in headers.get_all("connection") for t in v.split(",")}
        if version == "HTTP/1.1":
            self.keep_alive = "close" not in tokens
        else:
            self.keep_alive = "keep-alive" in tokens
        self.expect_continue = version == "HTTP/1.1" and any(
            v.strip().lower() == "100-continue" for v in headers.get_all("expect")
        )

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]

    def _frame(self) -> None:
        encodings = self.headers.get_all("transfer-encoding")
        lengths = self.headers.get_all("content-length")
        if encodings:
            # Both framings at once is the classic request-smuggling shape: refuse.
            if lengths:
                raise HTTPError(400, "both Transfer-Encoding and Content-Length")
            codings = [c.strip().lower() for v in encodings for c in v.split(",")]
            if codings != ["chunked"]:
                raise HTTPError(501, f"unsupported Transfer-Encoding {', '.join(codings)}")
            self.chunked = True
        elif lengths:
            values = {v.strip() for field in lengths for v in field.split(",")}
            value = values.pop()
            if values or not value.isdigit() or not value.isascii():
                raise HTTPError(400, "invalid Content-Length")
            self.content_length = int(value)


def parse_head(raw: bytes) -> RequestHead:
    """Parse a request head (``raw`` ends with the blank line)."""
    lines = raw.decode("latin-1").split("\r\n")
    while lines and lines[-1] == "":
        lines.pop()
    parts = lines[0].split(" ") if lines else []
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
        raise HTTPError(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HTTPError(505, f"unsupported protocol {version[:20]!r}")
    pairs = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        # A leading space here is an obsolete line fold; a space before the colon
        # is forbidden (RFC 9112 §5.1): both fail the token check.
        if not sep or not _TOKEN.match(name):
            raise HTTPError(400, f"malformed header line {line[:40]!r}")
        value = value.strip(" \t")
        if _BAD_VALUE.search(value):
            raise HTTPError(400, f"invalid character in header {name}")
        pairs.append((name, value))
    return RequestHead(method, target, version, Headers(pairs))


async def read_head(reader: asyncio.StreamReader) -> RequestHead | None:
    """Read the next request head; ``None`` when the peer closed between requests."""
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial.strip():
                return None
            raise HTTPError(400, "connection closed inside the request head") from None
        except asyncio.LimitOverrunError:
            raise HTTPError(431, "request head too large") from None
        # RFC 9112 §2.2: ignore empty lines before a request line.
        raw = raw.lstrip(b"\r\n")
        if raw:
            return parse_head(raw)


class Body:
    """The body of one request, read lazily from the connection.

    Read it whole with :meth:`read` or in pieces with :meth:`next_chunk`. If a read
    is interrupted (cancelled, client gone), the connection's framing is lost:
    :attr:`broken` becomes true and the connection must be closed.
    """

    __slots__ = ("_chunk_left", "_continue", "_reader", "_remaining", "_writer", "broken", "done")

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: RequestHead
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._continue = head.expect_continue
        self._remaining = -1 if head.chunked else head.content_length
        self._chunk_left = 0
        self.broken = False
        self.done = self._remaining == 0

    async def read(self) -> bytes:
        """The whole body (linear time: one copy for fixed length, one join for chunked)."""
        if self._remaining > 0 and not self.broken:
            self._ask_continue()
            self.broken = True  # until the read completes
            try:
                data = await self._reader.readexactly(self._remaining)
            except asyncio.IncompleteReadError:
                raise HTTPError(400, "connection closed inside the body") from None
            self._remaining = 0
            self.broken = False
            self.done = True
            return data
        parts: list[bytes] = []
        while True:
            part = await self.next_chunk(1 << 20)
            if not part:
                return b"".join(parts)
            parts.append(part)

    async def next_chunk(self, max_size: int = READ_CHUNK) -> bytes:
        """The next piece of the body, at most ``max_size`` bytes; ``b""`` at the end."""
        if self.done:
            return b""
        if self.broken:
            raise HTTPError(400, "request body was interrupted")
        self._ask_continue()
        self.broken = True  # until this read completes
        try:
            data = await (
                self._read_fixed(max_size) if self._remaining >= 0 else self._read_chunked(max_size)
            )
        except asyncio.IncompleteReadError:
            raise HTTPError(400, "connection closed inside the body") from None
        except asyncio.LimitOverrunError:
            raise HTTPError(400, "chunk header too long") from None
        self.broken = False
        return data

    async def drain(self) -> None:
        """Read and discard what is left, so the next request can be read."""
        while await self.next_chunk(1 << 20):
            pass

    def _ask_continue(self) -> None:
        if self._continue:
            self._continue = False
            self._writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    async def _read_fixed(self, max_size: int) -> bytes:
        data = await self._reader.read(min(self._remaining, max_size))
        if not data:
            raise asyncio.IncompleteReadError(b"", self._remaining)
        self._remaining -= len(data)
        self.done = self._remaining == 0
        return data

    async def _read_chunked(self, max_size: int) -> bytes:
        if self._chunk_left == 0:
            line = await self._reader.readuntil(b"\r\n")
            size_text = line[:-2].split(b";", 1)[0].strip(b" \t")
            if not _HEX.match(size_text):
                raise HTTPError(400, "malformed chunk size")
            size = int(size_text, 16)
            if size == 0:
                # Trailer fields: read and ignore up to the final empty line.
                while await self._reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                self.done = True
                return b""
            self._chunk_left = size
        data = await self._reader.read(min(self._chunk_left, max_size))
        if not data:
            raise asyncio.IncompleteReadError(b"", self._chunk_left)
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and await self._reader.readexactly(2) != b"\r\n":
            raise HTTPError(400, "chunk not followed by CRLF")
        return data


def reason(status: int) -> str:
    """The standard reason phrase for ``status`` (``"Unknown"`` if there is none)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def encode_head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    """A response status line and header block, ending with the blank line."""
    lines = [f"HTTP/1.1 {status} {reason(status)}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append("\r\n")
    # Values were checked by check_header(), which turns non-ASCII text into the
    # latin-1 spelling of its UTF-8 bytes.
    return "\r\n".join(lines).encode("latin-1")


def check_header(name: str, value: object) -> tuple[str, str]:
    """Validate a response header a function asked for; ``ValueError`` if unusable."""
    text = str(value)
    if not _TOKEN.match(name):
        raise ValueError(f"invalid response header name {name!r}")
    if _BAD_VALUE.search(text):
        raise ValueError(f"invalid character in response header {name}")
    if not text.isascii():
        # Send UTF-8 bytes (what Go's HTTP client, Fn's agent, passes through);
        # encode_head() writes this latin-1 text back out byte for byte.
        text = text.encode("utf-8").decode("latin-1")
    return name, text


def frame_chunk(data: bytes | bytearray | memoryview) -> bytes:
    """One chunk of a chunked body (callers never pass an empty chunk)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def write_message(
    writer: asyncio.StreamWriter, head: bytes, body: bytes | bytearray | memoryview
) -> None:
    """Queue ``head`` and ``body``: one write when small, no body copy when large."""
    if len(body) <= _COALESCE_LIMIT:
        writer.write(head + body)
    else:
        writer.write(head)
        writer.write(body)
