"""In-process unit tests of the FDK's pieces: HTTP parsing, deadlines, results."""

from __future__ import annotations

import asyncio
import calendar
import json
from typing import Any

import pytest

from hotfn.fdk import Context, Headers, Response
from hotfn.fdk.context import parse_deadline
from hotfn.fdk.http11 import Body, HTTPError, encode_head, parse_head, read_head
from hotfn.fdk.response import render
from hotfn.fdk.server import ListenerError, listener_path, phony_path


def head(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode() + b"\r\n"


def test_parse_head_reads_fn_call() -> None:
    parsed = parse_head(
        head(
            "POST /call HTTP/1.1\nHost: localhost\nFn-Call-Id: 01ABC\n"
            "Fn-Http-H-Accept: a\nfn-http-h-accept: b\nContent-Length: 5\n"
        )
    )
    assert (parsed.method, parsed.path, parsed.version) == ("POST", "/call", "HTTP/1.1")
    assert parsed.keep_alive and not parsed.chunked and parsed.content_length == 5
    assert parsed.headers["FN-CALL-ID"] == "01ABC"
    assert parsed.headers["fn-http-h-accept"] == "a, b"
    assert parsed.headers.get_all("Fn-Http-H-Accept") == ["a", "b"]
    assert "fn-call-id" in parsed.headers and "nope" not in parsed.headers
    assert list(parsed.headers) == ["Host", "Fn-Call-Id", "Fn-Http-H-Accept", "Content-Length"]


@pytest.mark.parametrize(
    ("text", "keep_alive"),
    [
        ("POST /call HTTP/1.1\n", True),
        ("POST /call HTTP/1.1\nConnection: close\n", False),
        ("POST /call HTTP/1.0\n", False),
        ("POST /call HTTP/1.0\nConnection: Keep-Alive\n", True),
    ],
)
def test_keep_alive_rules(text: str, keep_alive: bool) -> None:
    assert parse_head(head(text)).keep_alive is keep_alive


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("GARBAGE\n", 400),
        ("POST /call HTTP/2.0\n", 505),
        ("POST  /call HTTP/1.1\n", 400),
        ("POST /call HTTP/1.1\nNo colon here\n", 400),
        ("POST /call HTTP/1.1\nBad Name: x\n", 400),
        ("POST /call HTTP/1.1\nA: b\n folded\n", 400),
        ("POST /call HTTP/1.1\nContent-Length: 5\nTransfer-Encoding: chunked\n", 400),
        ("POST /call HTTP/1.1\nContent-Length: -1\n", 400),
        ("POST /call HTTP/1.1\nContent-Length: 1, 2\n", 400),
        ("POST /call HTTP/1.1\nTransfer-Encoding: gzip\n", 501),
    ],
)
def test_malformed_heads_are_refused(text: str, status: int) -> None:
    with pytest.raises(HTTPError) as info:
        parse_head(head(text))
    assert info.value.status == status


def test_repeated_equal_content_lengths_are_accepted() -> None:
    assert parse_head(head("POST /call HTTP/1.1\nContent-Length: 3, 3\n")).content_length == 3


def _read_body(raw: bytes, piecewise: bool = False) -> bytes:
    async def run() -> bytes:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        parsed = await read_head(reader)
        assert parsed is not None
        body = Body(reader, None, parsed)  # type: ignore[arg-type]  # no 100-continue
        if not piecewise:
            return await body.read()
        parts = []
        while chunk := await body.next_chunk(3):
            parts.append(chunk)
        assert body.done
        return b"".join(parts)

    return asyncio.run(run())


@pytest.mark.parametrize("piecewise", [False, True])
def test_chunked_body_with_extensions_and_trailers(piecewise: bool) -> None:
    raw = head("POST /call HTTP/1.1\nTransfer-Encoding: chunked\n") + (
        b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n"
    )
    assert _read_body(raw, piecewise) == b"hello 0123456789"


@pytest.mark.parametrize("piecewise", [False, True])
def test_fixed_length_body(piecewise: bool) -> None:
    raw = head("POST /call HTTP/1.1\nContent-Length: 11\n") + b"hello world"
    assert _read_body(raw, piecewise) == b"hello world"


@pytest.mark.parametrize(
    "chunks",
    [b"zz\r\nhello\r\n0\r\n\r\n", b"0x5\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n"],
)
def test_malformed_chunks_are_refused(chunks: bytes) -> None:
    raw = head("POST /call HTTP/1.1\nTransfer-Encoding: chunked\n") + chunks
    with pytest.raises(HTTPError):
        _read_body(raw)


def test_truncated_body_is_an_error() -> None:
    with pytest.raises(HTTPError):
        _read_body(head("POST /call HTTP/1.1\nContent-Length: 10\n") + b"short")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-29T11:54:51Z", "2026-11-29 11:54:51"),
        ("2026-11-29T11:54:51.250Z", "2026-11-29 11:54:51.25"),
        ("2026-11-29T11:54:51.123456789Z", "2026-11-29 11:54:51.123456789"),
        ("2026-11-29T12:54:51+01:00", "2026-11-29 11:54:51"),
        ("2026-11-29T06:24:51-0530", "2026-11-29 11:54:51"),
        ("2026-11-29t11:54:51z", "2026-11-29 11:54:51"),
    ],
)
def test_rfc3339_deadlines(text: str, expected: str) -> None:
    date, clock = expected.split(" ")
    whole, _, fraction = clock.partition(".")
    stamp = calendar.timegm((*map(int, date.split("-")), *map(int, whole.split(":")), 0, 0, 0))
    assert parse_deadline(text) == pytest.approx(stamp + float("0." + (fraction or "0")))


@pytest.mark.parametrize("text", [None, "", "tomorrow", "2026-13-01T00:00:00Z", "2026-11-29"])
def test_unreadable_deadlines_mean_no_deadline(text: str | None) -> None:
    assert parse_deadline(text) is None


def test_context_for_a_trigger_call() -> None:
    headers = Headers(
        [
            ("Fn-Call-Id", "c1"),
            ("Fn-Deadline", "2026-11-29T11:54:51Z"),
            ("Content-Type", "text/csv"),
            ("Accept", "x/y"),
            ("Fn-Http-H-Accept", "x/y"),
            ("Fn-Http-Method", "PATCH"),
            ("Fn-Http-Request-Url", "http://h/t/app/p?a=1&a=2&b="),
            ("Fn-Intent", "httprequest"),
        ]
    )
    env = {"FN_APP_ID": "A", "FN_FN_NAME": "f", "FN_MEMORY": "256", "K": "v"}
    ctx = Context(headers, parse_deadline("2026-11-29T11:54:51Z"), env)
    assert ctx.call_id == "c1" and ctx.is_http and ctx.method == "PATCH"
    assert ctx.deadline is not None and ctx.deadline.isoformat() == "2026-11-29T11:54:51+00:00"
    assert dict(ctx.http_headers) == {"Accept": "x/y", "Content-Type": "text/csv"}
    assert ctx.query == {"a": ["1", "2"], "b": [""]}
    assert (ctx.app_id, ctx.fn_name, ctx.memory_mb, ctx.config["K"]) == ("A", "f", 256, "v")
    assert ctx.fn_id is None and ctx.app_name is None


def test_context_for_an_invoke_call() -> None:
    headers = Headers([("Fn-Call-Id", "c2"), ("Accept", "a/b"), ("Content-Type", "t/u")])
    ctx = Context(headers, None, {})
    assert not ctx.is_http and ctx.method == "POST" and ctx.request_url is None
    assert dict(ctx.http_headers) == {"Accept": "a/b", "Content-Type": "t/u"}
    assert ctx.deadline is None and ctx.remaining() is None and ctx.query == {}


def _rendered(result: Any) -> tuple[dict[str, list[str]], bytes]:
    headers, payload = render(result)
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name, []).append(value)
    return grouped, bytes(payload)


def test_render_plain_results() -> None:
    assert _rendered(b"\x00raw") == (
        {"Content-Type": ["application/octet-stream"], "Fn-Http-Status": ["200"]},
        b"\x00raw",
    )
    headers, body = _rendered("héllo")
    assert headers["Content-Type"] == ["text/plain; charset=utf-8"] and body == "héllo".encode()
    headers, body = _rendered({"a": [1, None]})
    assert headers["Content-Type"] == ["application/json"] and json.loads(body) == {"a": [1, None]}
    assert _rendered(None)[1] == b""


def test_render_response_maps_status_and_headers_the_fn_way() -> None:
    headers, body = _rendered(
        Response(
            b"x",
            status=404,
            headers=[
                ("Content-Type", "text/html"),
                ("X-Trace", "t"),
                ("Fn-Http-H-Already", "kept"),
                ("Connection", "close"),
                ("Fn-Http-Status", "999"),
            ],
        )
    )
    assert headers == {
        "Content-Type": ["text/html"],
        "Fn-Http-H-X-Trace": ["t"],
        "Fn-Http-H-Already": ["kept"],
        "Fn-Http-Status": ["404"],
    }
    assert body == b"x"
    headers, _ = _rendered(Response({"k": 1}, content_type="application/vnd+json"))
    assert headers["Content-Type"] == ["application/vnd+json"]


@pytest.mark.parametrize(
    "result",
    [
        42,
        object(),
        Response(b"", status=99),
        Response(b"", status=True),
        Response(b"", headers={"X": "a\nb"}),
        Response(b"", headers={"Bad Name": "v"}),
    ],
)
def test_render_refuses_what_cannot_be_sent(result: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        render(result)


def test_non_latin1_header_values_go_out_as_utf8() -> None:
    headers, _ = render(Response(b"", headers={"X-Name": "Zoë ✓"}))
    assert encode_head(200, headers).count("X-Name: Zoë ✓".encode()) == 1


@pytest.mark.parametrize(
    "value", [None, "", "tcp:1.2.3.4:80", "unix:", "unix:/tmp/iofs/", "unix:/" + "x" * 107]
)
def test_bad_listeners_are_refused(value: str | None) -> None:
    with pytest.raises(ListenerError) as info:
        listener_path(value)
    assert "FN_LISTENER" in str(info.value)


def test_listener_and_phony_paths() -> None:
    assert listener_path("unix:/tmp/iofs/lsnr.sock") == "/tmp/iofs/lsnr.sock"
    assert phony_path("/tmp/iofs/lsnr.sock") == "/tmp/iofs/phonylsnr.sock"
