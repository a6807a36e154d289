"""The FDK as a real process on a real unix socket, driven with Fn's request shape."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hotfn.fdk import FDK_VERSION
from hotfn.fdk.testing import ConnectionClosed, FnClient, FunctionProcess, rfc3339

TRIGGER = (
    "GET",
    "http://localhost:8080/t/app/hello?name=Ann&x=1&x=2",
    {"Accept": "text/plain", "User-Agent": "curl/8.5", "X-Custom": "v"},
)

FUNCS = str(Path(__file__).with_name("fdk_funcs.py"))
StartFdk = Callable[..., FunctionProcess]  # the start_fdk fixture (conftest.py)


def test_socket_handshake_is_fn_s(start_fdk: StartFdk) -> None:
    fn = start_fdk("echo")
    directory = os.path.dirname(fn.socket_path)
    assert os.readlink(fn.socket_path) == "phonylsnr.sock"  # relative, same directory
    phony = os.path.join(directory, "phonylsnr.sock")
    mode = os.stat(phony).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o666
    assert fn.stop() == 0
    assert not os.path.lexists(phony)


@pytest.mark.parametrize(
    ("listener", "message"),
    [
        (None, "FN_LISTENER is not set"),
        ("tcp:127.0.0.1:80", "must start with 'unix:'"),
        ("unix:", "names no socket file"),
        ("unix:/" + "d" * 120 + "/lsnr.sock", "longer than 107 bytes"),
        ("unix:/nonexistent-dir/lsnr.sock", "cannot listen"),
    ],
)
def test_exits_with_a_clear_message_without_a_usable_listener(
    listener: str | None, message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FN_LISTENER"}
    if listener is not None:
        env["FN_LISTENER"] = listener
    done = subprocess.run(
        [sys.executable, "-m", "hotfn.fdk", f"{FUNCS}:echo"],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert message in done.stderr.decode()


def test_bad_targets_exit_with_usage() -> None:
    for args in ([], [f"{FUNCS}:no_such"], [f"{FUNCS}:two_args_missing"], ["nomodule_x:f"]):
        done = subprocess.run(
            [sys.executable, "-m", "hotfn.fdk", *args],
            env={**os.environ, "FN_LISTENER": "unix:/tmp/unused/lsnr.sock"},
            capture_output=True,
            timeout=30,
        )
        assert done.returncode != 0 and b"hotfn.fdk" in done.stderr + done.stdout, args


@pytest.mark.parametrize("name", ["echo", "echo_async"])
def test_keep_alive_with_fixed_length_and_chunked_bodies(start_fdk: StartFdk, name: str) -> None:
    fn = start_fdk(name)
    with fn.client() as client:
        for i in range(40):
            body = f"call {i} ".encode() * (i + 1)
            reply = client.call(body, chunked=i % 2 == 1, chunk_size=7)
            assert (reply.status, reply.body) == (200, body)
            assert reply.headers["Fn-Fdk-Version"] == FDK_VERSION
            assert reply.headers["Fn-Http-Status"] == "200"
        assert client.call(b"").body == b""


@pytest.mark.parametrize("chunked", [False, True])
def test_20_mb_bodies_both_ways(start_fdk: StartFdk, chunked: bool) -> None:
    fn = start_fdk("echo")
    body = os.urandom(1 << 16) * 320  # 20 MiB
    with fn.client() as client:
        reply = client.call(body, chunked=chunked, chunk_size=1 << 20)
        assert reply.status == 200
        assert len(reply.body) == len(body) and reply.body == body
        assert client.call(b"after").body == b"after"


def test_trigger_call_context(start_fdk: StartFdk) -> None:
    env = {
        "FN_APP_ID": "01APP",
        "FN_APP_NAME": "app",
        "FN_FN_ID": "01FN",
        "FN_FN_NAME": "hello",
        "FN_MEMORY": "128",
        "GREETING": "hi",
    }
    fn = start_fdk("context", env=env)
    deadline = rfc3339(time.time() + 30, millis=False)
    extra = [("Fn-Http-H-Accept", "second/value")]
    with fn.client() as client:
        reply = client.call(
            b"payload",
            call_id="01CALL",
            deadline=deadline,
            content_type="text/plain",
            http=TRIGGER,
            extra=extra,
        )
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    seen = json.loads(reply.body)
    assert seen["call_id"] == seen["raw_call_header"] == "01CALL"
    assert seen["deadline"] == deadline.replace("Z", "+00:00")
    assert 25 < seen["remaining"] <= 30
    assert seen["is_http"] is True and seen["method"] == "GET"
    assert seen["request_url"] == TRIGGER[1]
    assert seen["query"] == {"name": ["Ann"], "x": ["1", "2"]}
    assert seen["http_headers"] == {
        "Accept": "text/plain, second/value",
        "User-Agent": "curl/8.5",
        "X-Custom": "v",
        "Content-Type": "text/plain",
    }
    assert seen["accept_all"] == ["text/plain", "second/value"]
    assert seen["content_type"] == "text/plain" and seen["body"] == "payload"
    assert (seen["app_id"], seen["app_name"], seen["fn_id"], seen["fn_name"]) == (
        "01APP",
        "app",
        "01FN",
        "hello",
    )
    assert seen["memory_mb"] == 128 and seen["config_greeting"] == "hi"


def test_invoke_call_context(start_fdk: StartFdk) -> None:
    with start_fdk("context").client() as client:
        seen = json.loads(client.call(b"", deadline=None, extra=[("Accept", "a/b")]).body)
    assert seen["is_http"] is False and seen["method"] == "POST"
    assert seen["deadline"] is None and seen["request_url"] is None
    assert seen["http_headers"] == {"Accept": "a/b"}


def test_status_and_headers_reach_trigger_callers(start_fdk: StartFdk) -> None:
    with start_fdk("respond").client() as client:
        reply = client.call(b"it", http=TRIGGER)
    assert reply.status == 200  # the contract's status; the caller's is Fn-Http-Status
    assert reply.http_status == 201
    assert reply.headers.get_all("Fn-Http-H-Set-Cookie") == ["a=1", "b=2"]
    assert reply.http_headers["Location"] == "/items/7"
    assert reply.http_headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.headers["Content-Length"] == "10" and reply.body == b"created it"
    assert "Fn-Http-H-Content-Length" not in reply.headers


@pytest.mark.parametrize(
    ("name", "body", "content_type"),
    [
        ("as_text", "héllo".encode(), "text/plain; charset=utf-8"),
        ("nothing", b"", "application/octet-stream"),
    ],
)
def test_result_types(start_fdk: StartFdk, name: str, body: bytes, content_type: str) -> None:
    with start_fdk(name).client() as client:
        reply = client.call(b"")
    assert (reply.status, reply.body, reply.headers["Content-Type"]) == (200, body, content_type)


def test_async_callable_object_keeps_state(start_fdk: StartFdk) -> None:
    with start_fdk("counter").client() as client:
        assert [client.call(b"").body for _ in range(3)] == [b"1", b"2", b"3"]


@pytest.mark.parametrize(
    ("name", "message"),
    [("boom", "ValueError: boom: bad input"), ("boom_async", "KeyError: 'missing'")],
)
def test_handler_exception_is_502_with_traceback_in_log(
    start_fdk: StartFdk, name: str, message: str
) -> None:
    fn = start_fdk(name)
    with fn.client() as client:
        reply = client.call(b"bad input")
        assert reply.status == 502
        assert message in json.loads(reply.body)["message"]
        again = client.call(b"bad input")  # the container stays and serves the next call
        assert again.status == 502
    fn.stop()
    log = fn.log()
    assert "Traceback (most recent call last)" in log and message in log
    assert "fdk_funcs.py" in log
    # The traceback starts in the user's code, not in the FDK's machinery.
    assert "runtime.py" not in log.split("Traceback (most recent call last)")[1]


@pytest.mark.parametrize(
    ("name", "message"),
    [("bad_return", "not int"), ("bad_header", "invalid character")],
)
def test_unsendable_results_are_502(start_fdk: StartFdk, name: str, message: str) -> None:
    with start_fdk(name).client() as client:
        reply = client.call(b"")
    assert reply.status == 502 and message in json.loads(reply.body)["message"]


@pytest.mark.parametrize("name", ["sleepy", "sleepy_async"])
def test_deadline_is_enforced_with_504(start_fdk: StartFdk, name: str) -> None:
    fn = start_fdk(name)
    with fn.client() as client:
        started = time.monotonic()
        reply = client.call(b"5", deadline=0.4)
        elapsed = time.monotonic() - started
        assert reply.status == 504
        assert elapsed < 3
        assert "deadline" in json.loads(reply.body)["message"]
        assert client.call(b"0", deadline=5).body == b"slept 0"


@pytest.mark.parametrize(
    "deadline",
    [
        "2001-01-01T00:00:00Z",
        "2001-01-01T00:00:00.123Z",
        "2001-01-01T01:00:00+01:00",
    ],
)
def test_past_deadline_in_any_rfc3339_form_is_504_at_once(
    start_fdk: StartFdk, deadline: str
) -> None:
    sleep_s = 5.0  # what the handler would take: answering sooner means it never ran
    with start_fdk("sleepy").client() as client:
        started = time.monotonic()
        reply = client.call(str(sleep_s).encode(), deadline=deadline)
        elapsed = time.monotonic() - started
        assert reply.status == 504
        assert elapsed < sleep_s / 2, elapsed
        assert client.call(b"0", deadline=5).body == b"slept 0"  # and it serves on


def test_future_deadline_with_offset_is_honoured(start_fdk: StartFdk) -> None:
    offset_time = time.strftime("%Y-%m-%dT%H:%M:%S+02:00", time.gmtime(time.time() + 7200 + 30))
    with start_fdk("sleepy").client() as client:
        assert client.call(b"0.1", deadline=offset_time).status == 200


def test_slow_sync_handler_does_not_block_other_connections(start_fdk: StartFdk) -> None:
    fn = start_fdk("sleepy")
    with fn.client() as slow, fn.client() as fast:
        slow.send_request([("Host", "localhost"), ("Fn-Call-Id", "slow")], b"1.5")
        started = time.monotonic()
        assert fast.call(b"0").body == b"slept 0"
        assert time.monotonic() - started < 1.0
        assert slow.read_response().body == b"slept 1.5"


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /call HTTP/1.1\r\nBad Header\r\n\r\n",
        b"POST /call HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /call HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
        b"POST /call HTTP/1.1\r\nX: " + b"a" * (1 << 21),
    ],
)
def test_malformed_requests_get_400_and_the_fdk_keeps_serving(
    start_fdk: StartFdk, raw: bytes
) -> None:
    fn = start_fdk("echo")
    with fn.client() as client:
        client.send_raw(raw)
        reply = client.read_response()
        assert 400 <= reply.status < 500 or reply.status in (501, 505)
        assert reply.headers["Connection"] == "close"
        with pytest.raises(ConnectionClosed):
            client.read_response()
    with fn.client() as client:
        assert client.call(b"still here").body == b"still here"


def test_other_paths_and_methods(start_fdk: StartFdk) -> None:
    with start_fdk("echo").client() as client:
        client.send_raw(b"POST /other HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nab")
        assert client.read_response().status == 404
        client.send_raw(b"GET /call HTTP/1.1\r\nHost: localhost\r\n\r\n")
        reply = client.read_response()
        assert reply.status == 405 and reply.headers["Allow"] == "POST"
        assert client.call(b"ok").body == b"ok"  # same connection, still in step


def test_expect_100_continue(start_fdk: StartFdk) -> None:
    with start_fdk("echo").client() as client:
        client.send_raw(b"POST /call HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n")
        client.send_raw(b"Content-Length: 5\r\n\r\n")
        assert client.sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        client.send_raw(b"hello")
        assert client.read_response().body == b"hello"


def test_http_1_0_request_closes_after_the_answer(start_fdk: StartFdk) -> None:
    with start_fdk("echo").client() as client:
        client.send_raw(b"POST /call HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
        reply = client.read_response()
        assert reply.body == b"hi" and reply.headers["Connection"] == "close"
        assert client.sock.recv(10) == b""


def test_client_disconnecting_mid_call_does_not_stop_the_fdk(start_fdk: StartFdk) -> None:
    fn = start_fdk("sleepy")
    with fn.client() as gone:
        gone.send_request([("Host", "localhost")], b"0.3")
    # closed while the handler sleeps
    with fn.client() as half:
        half.send_raw(b"POST /call HTTP/1.1\r\nContent-Length: 1000\r\n\r\nonly part")
    # closed in the middle of the body
    time.sleep(0.5)
    with fn.client() as client:
        assert client.call(b"0").body == b"slept 0"
    assert fn.proc.poll() is None


def test_dunder_main_handle_and_fn_style_two_argument_target(tmp_path: Path) -> None:
    runs = [
        [sys.executable, FUNCS],  # fdk.handle(echo) in the module's __main__ block
        [sys.executable, "-m", "hotfn.fdk", FUNCS, "echo"],  # Fn's `fdk func.py handler`
    ]
    for argv in runs:
        with FunctionProcess(argv) as fn, fn.client() as client:
            assert client.call(b"x").body == b"x"


def test_module_target_is_imported_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "mymod.py").write_text("def handler(ctx, data):\n    return b'mod:' + data\n")
    env = {"PYTHONPATH": ""}
    argv = [sys.executable, "-m", "hotfn.fdk", "mymod:handler"]
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        fn = FunctionProcess(argv, env=env)
    finally:
        os.chdir(old)
    with fn, fn.client() as client:
        assert client.call(b"y").body == b"mod:y"


def test_sigterm_exits_promptly_even_with_a_busy_handler_thread(start_fdk: StartFdk) -> None:
    fn = start_fdk("sleepy")
    with fn.client() as client:
        client.send_request([("Host", "localhost")], b"30")
        time.sleep(0.2)
        started = time.monotonic()
        assert fn.stop() == 0
        assert time.monotonic() - started < 3


def test_sigterm_with_idle_kept_alive_connections_is_quiet(start_fdk: StartFdk) -> None:
    # The agent keeps connections open between calls: stopping the container then
    # must not print a traceback per connection (Python 3.11's streams log a
    # cancelled connection handler as "Exception in callback").
    fn = start_fdk("echo")
    clients = [FnClient(fn.socket_path) for _ in range(3)]
    try:
        for client in clients:
            assert client.call(b"x").status == 200
        assert fn.stop() == 0
    finally:
        for client in clients:
            client.close()
    assert "Traceback" not in fn.log(), fn.log()
    assert "Exception in callback" not in fn.log()


def test_connections_are_independent_sockets(start_fdk: StartFdk) -> None:
    fn = start_fdk("echo")
    clients = [FnClient(fn.socket_path) for _ in range(5)]
    try:
        for i, client in enumerate(clients):
            assert client.call(str(i).encode()).body == str(i).encode()
    finally:
        for client in clients:
            client.close()
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(fn.socket_path)
    raw.close()  # connect and leave at once: nothing to serve
    with fn.client() as client:
        assert client.call(b"z").body == b"z"


@pytest.mark.parametrize("name", ["lines", "lines_async"])
def test_a_generator_streams_its_pieces_chunked(start_fdk: StartFdk, name: str) -> None:
    fn = start_fdk(name)
    with fn.client() as client:
        reply = client.call(b"5")
        assert reply.status == 200
        assert reply.body == b"".join(b"line %d\n" % i for i in range(5))
        assert reply.headers.get("Transfer-Encoding") == "chunked"
        assert reply.headers["Fn-Http-Status"] == "200"
        assert client.call(b"0").body == b""  # nothing yielded: an empty 200
        assert client.call(b"1").body == b"line 0\n"  # and the connection is kept


def test_a_generator_failing_after_its_first_piece_aborts(start_fdk: StartFdk) -> None:
    fn = start_fdk("lines_then_boom")
    # The 200 was already sent: the response is cut, never a complete-looking one.
    with fn.client() as client, pytest.raises(ConnectionClosed):
        client.call(b"")
