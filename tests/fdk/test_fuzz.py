"""Hostile input (issue 6): malformed requests to the FDK over its real unix socket.

Hypothesis builds requests from pieces that are each likely to break a parser:
garbage request lines, bad, huge, duplicate and contradictory ``Content-Length`` and
``Transfer-Encoding``, bad chunk sizes, truncated bodies, huge header blocks,
non-ASCII and NUL bytes in headers, pipelined junk, and connections that are
half-closed or dropped. For every case:

- no hang: the exchange ends within a bound (socket timeouts; after a half-close the
  function must finish answering and close);
- what comes back is a sequence of complete, well-formed HTTP/1.1 responses with a
  status from the contract, nothing after a ``Connection: close`` one;
- a well-formed request, even followed by junk, is answered first and correctly;
- no crash: the process is alive, logged no traceback, and serves the next call.

The helpers here are shared with ``tests/hotwrap/test_fuzz.py`` (same wire layer,
different server behind it).
"""

from __future__ import annotations

import os
import re
import selectors
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hotfn.fdk.http11 import Headers
from hotfn.fdk.testing import FunctionProcess, fn_request_headers

PYTHON = os.environ.get("HOTFN_TEST_PYTHON", sys.executable)
ROOT = str(Path(__file__).resolve().parents[2])
FUNCS = str(Path(__file__).with_name("fdk_funcs.py"))

CRLF = b"\r\n"
# Bounds: any single wait for the function, and a whole exchange.
RECV_TIMEOUT = 10.0
EXCHANGE_TIMEOUT = 30.0
# What the contract allows the FDK (and hotwrap) to answer to anything at all.
ALLOWED_STATUSES = {100, 200, 400, 404, 405, 431, 501, 504, 505}
# Signs of an unexpected exception inside the function process.
CRASH_MARKERS = ("Traceback", "exception was never retrieved", "Exception in callback")

FUZZ_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- sending and reading raw bytes ----------------------------------------------------


class Hang(AssertionError):
    """The function neither answered nor closed within the bound."""


def exchange(path: str, raw: bytes, *, half_close: bool) -> bytes:
    """Send ``raw`` on a new connection (reading whatever arrives meanwhile, so a
    function answering early never deadlocks with us), then either half-close and
    read until the function closes, or just drop the connection. Returns what was
    received. Raises :class:`Hang` past the bounds."""
    give_up = time.monotonic() + EXCHANGE_TIMEOUT
    received = bytearray()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(RECV_TIMEOUT)
        sock.connect(path)
        sock.setblocking(False)
        view = memoryview(raw)
        closed = False
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while view and not closed:
                if not selector.select(min(RECV_TIMEOUT, give_up - time.monotonic())):
                    raise Hang(f"the function stopped reading after {len(raw) - len(view)} bytes")
                closed = _recv_into(sock, received)
                try:
                    view = view[sock.send(view) :]
                except (BlockingIOError, InterruptedError):
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    closed = True  # it answered (e.g. 431) and closed: fine
        if not half_close:
            return bytes(received)
        if not closed:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                closed = True
        sock.setblocking(True)
        sock.settimeout(RECV_TIMEOUT)
        while not closed:
            if time.monotonic() > give_up:
                raise Hang(f"no end of the answer after {EXCHANGE_TIMEOUT} s: {bytes(received)!r}")
            try:
                data = sock.recv(1 << 16)
            except TimeoutError:
                raise Hang(f"no answer nor close in {RECV_TIMEOUT} s after a half-close") from None
            except ConnectionResetError:
                data = b""
            received += data
            closed = not data
    return bytes(received)


def _recv_into(sock: socket.socket, buf: bytearray) -> bool:
    """Take what is available; true when the peer closed."""
    try:
        data = sock.recv(1 << 16)
    except (BlockingIOError, InterruptedError):
        return False
    except ConnectionResetError:
        return True
    buf += data
    return not data


@dataclass
class Reply:
    status: int
    headers: Headers
    body: bytes


# HTTP/1.0 too: Go's net/http (hotwrap's server) answers an HTTP/1.0 request in
# kind, as RFC 9110 §2.5 allows; Fn's agent only ever sends HTTP/1.1.
_STATUS_LINE = re.compile(r"HTTP/1\.[01] (\d{3}) [^\r\n]*\Z")


def parse_replies(data: bytes) -> tuple[list[Reply], bytes]:
    """Split ``data`` into complete responses; the unparsable rest (``b""`` if none)."""
    replies: list[Reply] = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        lines = data[:end].decode("latin-1").split("\r\n")
        match = _STATUS_LINE.match(lines[0])
        if match is None:
            break
        pairs = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                return replies, data
            pairs.append((name, value.strip()))
        headers = Headers(pairs)
        status = int(match.group(1))
        rest = data[end + 4 :]
        if status < 200:
            replies.append(Reply(status, headers, b""))
            data = rest
            continue
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parsed = _dechunk(rest)
            if parsed is None:
                break
            body, rest = parsed
        elif "content-length" not in headers and headers.get("connection", "").lower() == "close":
            # Delimited by the close (RFC 9112 §6.3): how Go's net/http, behind
            # hotwrap, sends its own 400/431 answers.
            body, rest = rest, b""
        else:
            length = int(headers.get("content-length", "0"))
            if len(rest) < length:
                break
            body, rest = rest[:length], rest[length:]
        replies.append(Reply(status, headers, body))
        data = rest
    return replies, data


def _dechunk(data: bytes) -> tuple[bytes, bytes] | None:
    parts: list[bytes] = []
    while True:
        end = data.find(CRLF)
        if end < 0:
            return None
        size = int(data[:end].split(b";")[0], 16)
        data = data[end + 2 :]
        if size == 0:
            if not data.startswith(CRLF):
                return None
            return b"".join(parts), data[2:]
        if len(data) < size + 2:
            return None
        parts.append(data[:size])
        data = data[size + 2 :]


def check_replies(received: bytes, echo: bytes | None) -> list[Reply]:
    """``received`` is whole, well-formed responses; the first echoes ``echo`` if given."""
    replies, rest = parse_replies(received)
    assert rest == b"", f"not a complete HTTP/1.1 response: {rest[:200]!r}"
    for index, reply in enumerate(replies):
        assert reply.status in ALLOWED_STATUSES, reply
        if reply.headers.get("connection", "").lower() == "close":
            assert index == len(replies) - 1, "a response after Connection: close"
    if echo is not None:
        assert replies, "no answer to a well-formed request"
        first = next(r for r in replies if r.status != 100)
        assert (first.status, first.body) == (200, echo)
    return replies


def assert_still_serving(fn: FunctionProcess, token: bytes) -> None:
    """Alive, no traceback in its log, and the next well-formed call is answered."""
    assert fn.proc.poll() is None, f"the function died:\n{fn.log()[-3000:]}"
    with fn.client(timeout=RECV_TIMEOUT) as client:
        reply = client.call(token)
        assert (reply.status, reply.body) == (200, token)
    log = fn.log()
    for marker in CRASH_MARKERS:
        assert marker not in log, log[-3000:]


# -- strategies -----------------------------------------------------------------------


def _head_line(name: str, value: str) -> bytes:
    return f"{name}: {value}".encode("latin-1")


def fn_headers() -> list[bytes]:
    """The header lines Fn's agent sends with a call (deadline 30 s from now)."""
    return [_head_line(n, v) for n, v in fn_request_headers(deadline=30.0, content_type="a/b")]


@st.composite
def well_formed(
    draw: st.DrawFn, extensions: tuple[bytes, ...] = (b"", b";a=b", b" ;x")
) -> tuple[bytes, bytes]:
    """A request the function must serve: ``(raw, body)``; chunked or fixed length,
    chunks with one of ``extensions`` after their size."""
    body = draw(st.binary(max_size=300))
    lines = [b"POST /call HTTP/1.1", *fn_headers()]
    if draw(st.booleans()):
        lines.append(b"Content-Length: %d" % len(body))
        return CRLF.join(lines) + CRLF + CRLF + body, body
    lines.append(b"Transfer-Encoding: chunked")
    chunks = []
    at = 0
    while at < len(body):
        size = draw(st.integers(1, len(body) - at))
        extension = draw(st.sampled_from(extensions))
        chunks.append(b"%x%s\r\n%s\r\n" % (size, extension, body[at : at + size]))
        at += size
    trailer = draw(st.sampled_from([b"", b"X-Trailer: t\r\n"]))
    return CRLF.join(lines) + CRLF + CRLF + b"".join(chunks) + b"0\r\n" + trailer + CRLF, body


REQUEST_LINES = st.one_of(
    st.just(b"POST /call HTTP/1.1"),
    st.just(b"POST /call HTTP/1.1"),
    st.sampled_from(
        [
            b"POST /call HTTP/1.1",
            b"POST /call HTTP/1.0",
            b"GET /call HTTP/1.1",
            b"POST /elsewhere?x=1 HTTP/1.1",
            b"POST /call HTTP/2.0",
            b"POST /call HTTP/1.1 extra",
            b"POST  /call HTTP/1.1",
            b"POST /call",
            b"POST /call HTTP/1.1\x00",
            b"P\xc3\xb6ST /call HTTP/1.1",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
            b"PRI * HTTP/2.0",
            b"POST /" + b"c" * 70_000 + b" HTTP/1.1",
            b"",
        ]
    ),
    st.binary(max_size=80),
)

CONTENT_LENGTHS = st.sampled_from(
    ["{n}", "{n}", "{more}", "{less}", "0", "-1", "+{n}", " {n} ", "{n}, {n}", "{n}, {more}",
     "1e3", "0x10", "", "abc", "99999999999999999999999999", "\u0663", "{n}\x00"]
)  # fmt: skip
TRANSFER_CODINGS = st.sampled_from(
    ["chunked", "chunked", "CHUNKED", "gzip", "gzip, chunked", "chunked, chunked",
     "identity", "chunked;q=1", "", "chunked\x00", "ch\u00fcnked"]
)  # fmt: skip
HEADER_LINES = st.one_of(
    st.sampled_from(  # unusual but valid
        [
            b"Connection: close",
            b"Connection: keep-alive, Upgrade",
            b"Expect: 100-continue",
            b"Fn-Deadline: 2000-01-01T00:00:00Z",
            b"Fn-Deadline: not a date",
            b"Fn-Intent: httprequest",
            b"Fn-Http-Method: \xff\xfe",
            b"Fn-Http-Request-Url: http://x/\xc3\xa9?a=%zz&&=",
            b"Fn-Http-H-X: caf\xc3\xa9",
            b"X-Tab:\tvalue\t",
            b"X-Empty:",
            b"X-Latin: \xe9\xff",
        ]
    ),
    st.sampled_from(  # invalid
        [
            b"X-Nul: a\x00b",
            b"X-Del: \x7f",
            b" leading-space: folded",
            b"\tcontinued",
            b"No-Colon",
            b"Bad Name: x",
            b": empty name",
            b"N\xc3\xa4me: v",
            b"X-Cr: a\rb",
            b"X-Lf: a\nb",
        ]
    ),
    st.binary(max_size=60),
)


@st.composite
def chunked_body(draw: st.DrawFn, body: bytes) -> bytes:
    """``body`` as chunks, some of them broken."""
    out = []
    at = 0
    while at < len(body):
        size = draw(st.integers(1, len(body) - at))
        size_text = draw(
            st.sampled_from(
                [b"%x" % size] * 4
                + [b"%X" % size, b"zz", b"-1", b"", b" ", b"0x%x" % size, b"%x" % (size + 5),
                   b"f" * 16, b"fffffffffffffff", b"%x;" % size + b"e" * 300, b"%x\x00" % size]
            )
        )  # fmt: skip
        after = draw(st.sampled_from([CRLF, CRLF, CRLF, b"", b"\n", b"XX"]))
        out.append(size_text + CRLF + body[at : at + size] + after)
        at += size
    out.append(draw(st.sampled_from([b"0\r\n\r\n", b"0\r\n\r\n", b"0\r\n", b"", b"0\r\nT: x\r\n"])))
    return b"".join(out)


@st.composite
def hostile(draw: st.DrawFn) -> bytes:
    """Anything from almost right to pure garbage."""
    body = draw(st.binary(max_size=200))
    n = len(body)
    lines = [draw(REQUEST_LINES)]
    headers = fn_headers()
    if draw(st.booleans()):
        headers += draw(st.lists(HEADER_LINES, min_size=1, max_size=4))
    for template in draw(st.lists(CONTENT_LENGTHS, max_size=3)):
        value = template.format(n=n, more=n + 7, less=max(0, n - 3))
        headers.append(("Content-Length: " + value).encode("utf-8"))
    codings = draw(st.lists(TRANSFER_CODINGS, max_size=2))
    headers += [("Transfer-Encoding: " + c).encode("utf-8") for c in codings]
    big = draw(st.sampled_from([0, 0, 0, 0, 8_000, 70_000, (1 << 20) - 200, (1 << 20) + 100]))
    if big:
        headers.append(b"X-Big: " + b"b" * big)
    many = draw(st.sampled_from([0, 0, 0, 0, 300, 3_000, 60_000]))
    headers += [b"X-Many-%d: v" % i for i in range(many)]
    lines += draw(st.permutations(headers))
    end_of_head = st.sampled_from([CRLF + CRLF] * 8 + [b"\n\n", CRLF, b""])
    raw = CRLF.join(lines) + draw(end_of_head)
    as_chunks: bool = draw(st.booleans())
    if codings and as_chunks:
        raw += draw(chunked_body(body))
    else:
        raw += body
    if draw(st.integers(0, 4)) == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]  # truncated anywhere
    return raw + draw(pipelined_junk())


@st.composite
def hostile_body(draw: st.DrawFn) -> bytes:
    """A proper head (``Expect: 100-continue`` sometimes) with a broken or
    mis-framed body."""
    body = draw(st.binary(max_size=300))
    lines = [b"POST /call HTTP/1.1", *fn_headers()]
    if draw(st.booleans()):
        lines.append(b"Expect: 100-continue")
    if draw(st.booleans()):
        lines.append(b"Transfer-Encoding: chunked")
        payload = draw(chunked_body(body))
    else:
        value = draw(CONTENT_LENGTHS).format(n=len(body), more=len(body) + 7, less=0)
        lines.append(("Content-Length: " + value).encode("utf-8"))
        payload = body
    raw = CRLF.join(lines) + CRLF + CRLF + payload
    if draw(st.integers(0, 2)) == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw + draw(pipelined_junk())


HOSTILE = st.one_of(hostile(), hostile_body())


# Mostly half-close and read the whole answer; sometimes drop the connection at once.
HALF_CLOSE = st.sampled_from([True, True, True, False])


def pipelined_junk() -> st.SearchStrategy[bytes]:
    """What may follow a request on the same connection."""
    return st.one_of(
        st.just(b""),
        st.just(b""),
        st.binary(max_size=100),
        st.sampled_from([CRLF, CRLF * 3, b"GET / HTTP/1.1\r\n\r\n", b"\x00" * 64]),
        well_formed().map(lambda pair: pair[0]),
    )


# -- the FDK --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def echo_fdk() -> Iterator[FunctionProcess]:
    """One FDK serving an echo handler for the whole module (every case checks it is
    still well afterwards)."""
    env = {"PYTHONPATH": ROOT}
    with FunctionProcess([PYTHON, "-m", "hotfn.fdk", f"{FUNCS}:echo"], env=env) as fn:
        yield fn


# Cases every run tries first, whatever Hypothesis generates.
CASES = [
    b"POST /call HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST /call HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n",
    b"POST /call HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nabc",
    b"POST /call HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX",
    b"POST /call HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\nabc",
    b"POST /call HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly part",
    b"POST /call HTTP/1.1\r\nX: " + b"a" * (1 << 21) + b"\r\n\r\n",
    b"POST /call HTTP/1.1\r\nX-Nul: \x00\r\n\r\n",
    b"\x00\xff\r\n\r\n" * 50,
]


def with_cases(test: Callable[..., None]) -> Callable[..., None]:
    """Add :data:`CASES` as explicit examples, both half-closed and dropped."""
    for raw in CASES:
        for half_close in (True, False):
            test = example(raw=raw, half_close=half_close)(test)
    return test


@FUZZ_SETTINGS
@given(raw=HOSTILE, half_close=HALF_CLOSE)
@with_cases
def test_fdk_survives_hostile_requests(
    echo_fdk: FunctionProcess, raw: bytes, half_close: bool
) -> None:
    received = exchange(echo_fdk.socket_path, raw, half_close=half_close)
    if half_close:
        check_replies(received, None)
    assert_still_serving(echo_fdk, b"next %d" % len(raw))


@FUZZ_SETTINGS
@given(request=well_formed(), junk=pipelined_junk())
def test_fdk_answers_a_well_formed_request_before_junk(
    echo_fdk: FunctionProcess, request: tuple[bytes, bytes], junk: bytes
) -> None:
    raw, body = request
    replies = check_replies(exchange(echo_fdk.socket_path, raw + junk, half_close=True), body)
    assert all(reply.headers.get("fn-fdk-version") for reply in replies)
    assert_still_serving(echo_fdk, b"after " + body[:20])
