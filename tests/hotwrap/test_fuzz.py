"""Hostile input (issue 6): malformed requests to hotwrap over its real unix socket.

The same hostile requests as ``tests/fdk/test_fuzz.py`` (whose strategies and checks
this reuses), with a command run per call behind the parser: no crash, no hang,
only well-formed answers, and the next well-formed call is served correctly —
also after requests whose body broke off while ``cat`` was reading it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given

from hotfn.fdk.testing import FunctionProcess
from tests.fdk.test_fuzz import (
    FUZZ_SETTINGS,
    HALF_CLOSE,
    HOSTILE,
    assert_still_serving,
    check_replies,
    exchange,
    pipelined_junk,
    well_formed,
    with_cases,
)
from tests.hotwrap.conftest import StartHotwrap, hotwrap_binary


@pytest.fixture(scope="module")
def hot_cat() -> Iterator[FunctionProcess]:
    """One hotwrap running ``cat`` per call for the whole module."""
    with FunctionProcess([hotwrap_binary(), "cat"]) as fn:
        yield fn


@FUZZ_SETTINGS
@given(raw=HOSTILE, half_close=HALF_CLOSE)
@with_cases
def test_hotwrap_survives_hostile_requests(
    hot_cat: FunctionProcess, raw: bytes, half_close: bool
) -> None:
    received = exchange(hot_cat.socket_path, raw, half_close=half_close)
    if half_close:
        check_replies(received, None)
    assert_still_serving(hot_cat, b"next %d" % len(raw))


# Go's net/http (hotwrap's server, and the client in Fn's agent, which never sends
# chunk extensions) refuses whitespace before a chunk extension's ";" (" ;x",
# allowed by RFC 9112 as BWS) with 400: only extensions it takes are well formed here.
GO_EXTENSIONS = (b"", b";a=b")


@FUZZ_SETTINGS
@given(request=well_formed(GO_EXTENSIONS), junk=pipelined_junk())
def test_hotwrap_answers_a_well_formed_request_before_junk(
    hot_cat: FunctionProcess, request: tuple[bytes, bytes], junk: bytes
) -> None:
    raw, body = request
    check_replies(exchange(hot_cat.socket_path, raw + junk, half_close=True), body)
    assert_still_serving(hot_cat, b"after " + body[:20])


def test_no_command_is_left_running(hot_cat: FunctionProcess) -> None:
    # After the fuzzing above, every per-call command has ended (none is stuck
    # waiting for a body that never came).
    children = Path(f"/proc/{hot_cat.proc.pid}/task/{hot_cat.proc.pid}/children")
    give_up = time.monotonic() + 5
    while children.read_text().split() and time.monotonic() < give_up:
        time.sleep(0.05)
    assert children.read_text().split() == []


def test_oversized_client_headers_do_not_stop_the_command(start_hotwrap: StartHotwrap) -> None:
    # One environment string over 128 KiB makes exec fail (E2BIG); hotwrap leaves such
    # values out (and says so in the log) instead of failing the call.
    script = 'echo "${#FN_HTTP_H_X_BIG} ${#FN_HTTP_REQUEST_URL} $FN_HTTP_H_X_SMALL"'
    fn = start_hotwrap(["sh", "-c", script])
    url = "http://x/t/app/f?q=" + "u" * 200_000
    with fn.client() as client:
        reply = client.call(b"", http=("GET", url, {"X-Big": "b" * 200_000, "X-Small": "s"}))
        assert (reply.status, reply.body) == (200, b"0 0 s\n")
        reply = client.call(b"", http=("GET", "http://x/t/app/f", {"X-Big": "b" * 1000}))
        assert (reply.status, reply.body) == (200, b"1000 16 \n")
    assert "FN_HTTP_H_X_BIG is too large for the environment" in fn.log()
