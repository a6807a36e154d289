"""hotwrap's exec mode as a real process, driven with Fn's request shape on raw bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotfn.fdk.testing import ConnectionClosed
from tests.hotwrap.conftest import HOTWRAP_VERSION, StartHotwrap, hotwrap_binary

PY = sys.executable
MiB = 1 << 20
TRIGGER = (
    "PUT",
    "http://localhost:8080/t/app/run?x=1",
    {"User-Agent": "curl/8.5", "X-Custom-Thing": "v 1", "Content-Type": "text/csv"},
)


def process_gone(pid: int) -> bool:
    """True if ``pid`` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_argv_is_passed_exactly_without_a_shell(start_hotwrap: StartHotwrap) -> None:
    args = ["a b", "it's", "$HOME", "*", "", "--mode"]
    fn = start_hotwrap([PY, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))", *args])
    with fn.client() as client:
        reply = client.call(b"")
    assert reply.status == 200 and json.loads(reply.body) == args
    assert reply.headers["Fn-Fdk-Version"] == HOTWRAP_VERSION


@pytest.mark.parametrize(
    ("command", "output"),
    [
        (["/bin/sh", "-c", "echo $((1 + 2)) | cat"], b"3\n"),  # what a shell-form CMD becomes
        (["echo  hello   world"], b"hello world\n"),  # a single string with spaces
        (["wc", "-c"], b"5\n"),  # exec-form arguments are not re-split or lost
    ],
)
def test_shell_form_and_exec_form(
    start_hotwrap: StartHotwrap, command: list[str], output: bytes
) -> None:
    with start_hotwrap(command).client() as client:
        reply = client.call(b"hello")
    assert (reply.status, reply.body.strip()) == (200, output.strip())


def test_keep_alive_with_fixed_length_and_chunked_bodies(start_hotwrap: StartHotwrap) -> None:
    with start_hotwrap(["cat"]).client() as client:
        for i in range(20):
            body = f"line {i}\n".encode() * (i + 1)
            reply = client.call(body, chunked=i % 2 == 0, chunk_size=5)
            assert (reply.status, reply.body, reply.http_status) == (200, body, 200)
            assert reply.headers["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize("chunked", [False, True])
def test_20_mb_through_cat_is_streamed_both_ways(
    start_hotwrap: StartHotwrap, chunked: bool
) -> None:
    body = os.urandom(1 << 16) * 320
    with start_hotwrap(["cat"]).client() as client:
        reply = client.call(body, chunked=chunked, chunk_size=MiB)
        assert reply.status == 200 and reply.chunked  # past the 1 MiB buffer: streamed
        assert len(reply.body) == len(body) and reply.body == body
        assert client.call(b"next").body == b"next"


def test_command_that_ignores_a_20_mb_body(start_hotwrap: StartHotwrap) -> None:
    with start_hotwrap(["echo", "hi"]).client() as client:
        reply = client.call(b"x" * (20 * MiB))
        assert (reply.status, reply.body) == (200, b"hi\n")
        assert client.call(b"y" * 10).body == b"hi\n"  # connection still in step


def test_large_stderr_does_not_block(start_hotwrap: StartHotwrap) -> None:
    fn = start_hotwrap(["/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' e >&2; echo ok"])
    with fn.client() as client:
        assert client.call(b"").body == b"ok\n"


def test_non_zero_exit_is_502_with_code_and_stderr_tail(start_hotwrap: StartHotwrap) -> None:
    script = "for i in $(seq 1 30); do echo err line $i >&2; done; echo partial output; exit 3"
    fn = start_hotwrap(["/bin/sh", "-c", script])
    with fn.client() as client:
        reply = client.call(b"", http=TRIGGER)
        again = client.call(b"")
    for answer in (reply, again):  # /invoke and triggers alike
        assert answer.status == 502
        assert answer.headers["Fn-Hotwrap-Exit-Code"] == "3"
        message = json.loads(answer.body)["message"]
        assert "exited with code 3" in message
        assert "err line 30" in message and "err line 21" in message
        assert "err line 20\n" not in message  # only the last lines
        assert "partial output" not in message
    fn.stop()
    assert "err line 1\n" in fn.log()  # stderr goes to the container's log


def test_killed_by_signal_is_reported(start_hotwrap: StartHotwrap) -> None:
    with start_hotwrap(["/bin/sh", "-c", "kill -TERM $$"]).client() as client:
        reply = client.call(b"")
    assert reply.status == 502 and "signal SIGTERM" in json.loads(reply.body)["message"]


def test_failure_after_streaming_aborts_instead_of_reporting_success(
    start_hotwrap: StartHotwrap,
) -> None:
    fn = start_hotwrap(
        ["/bin/sh", "-c", "head -c 5000 /dev/zero; exit 1"], options=["--buffer", "1000"]
    )
    with fn.client() as client, pytest.raises(ConnectionClosed):
        client.call(b"")
    with fn.client() as client:  # and it keeps serving
        with pytest.raises(ConnectionClosed):
            client.call(b"")


def test_output_is_streamed_as_it_is_produced(start_hotwrap: StartHotwrap, tmp_path: Path) -> None:
    go = tmp_path / "go"
    script = 'echo first; while [ ! -e "$GO" ]; do sleep 0.01; done; echo second'
    fn = start_hotwrap(["/bin/sh", "-c", script], options=["--buffer=0"], env={"GO": str(go)})
    with fn.client() as client:
        client.send_request([("Host", "localhost")], b"")
        seen = b""
        while b"first" not in seen:
            seen += client.sock.recv(4096)
        assert b"Transfer-Encoding: chunked" in seen and b"second" not in seen
        go.touch()
        while not seen.endswith(b"0\r\n\r\n"):
            seen += client.sock.recv(4096)
        assert b"second" in seen


def test_deadline_kills_the_whole_process_group(
    start_hotwrap: StartHotwrap, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    script = (
        'read what; if [ "$what" = sleep ]; then sleep 30 & echo $! > "$PIDFILE"; sleep 30; fi; '
        "echo done"
    )
    fn = start_hotwrap(["/bin/sh", "-c", script], env={"PIDFILE": str(pidfile)})
    with fn.client() as client:
        started = time.monotonic()
        reply = client.call(b"sleep\n", deadline=0.5)
        assert reply.status == 504 and time.monotonic() - started < 3
        assert "deadline" in json.loads(reply.body)["message"]
        background = int(pidfile.read_text())
        give_up = time.monotonic() + 5
        while not process_gone(background) and time.monotonic() < give_up:
            time.sleep(0.02)
        assert process_gone(background)
        assert client.call(b"quick\n").body == b"done\n"


def test_deadline_while_the_body_is_still_arriving(start_hotwrap: StartHotwrap) -> None:
    fn = start_hotwrap(["cat"])
    with fn.client() as client:
        # Host: Go's HTTP server (like Fn's agent, a Go client) insists on it.
        past = b"Host: localhost\r\nFn-Deadline: 2000-01-01T00:00:00Z\r\n"
        client.send_raw(b"POST /call HTTP/1.1\r\n" + past + b"Content-Length: 10\r\n\r\nabc")
        reply = client.read_response()
        assert reply.status == 504 and reply.headers.get("Connection") == "close"
    with fn.client() as client:
        assert client.call(b"fine").body == b"fine"


def _env_of(reply_body: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in reply_body.decode().splitlines() if "=" in line)


def test_per_call_environment(start_hotwrap: StartHotwrap) -> None:
    fn = start_hotwrap(["env"], env={"GREETING": "hi"})
    with fn.client() as client:
        trigger = _env_of(
            client.call(
                b"",
                call_id="01CALL",
                deadline="2099-01-01T00:00:00Z",
                content_type="text/csv",
                http=TRIGGER,
            ).body
        )
        invoke = _env_of(client.call(b"", call_id="01OTHER", content_type="application/json").body)
    assert trigger["FN_CALL_ID"] == "01CALL" and trigger["FN_DEADLINE"] == "2099-01-01T00:00:00Z"
    assert trigger["FN_CONTENT_TYPE"] == "text/csv" and trigger["GREETING"] == "hi"
    assert trigger["FN_HTTP_METHOD"] == "PUT"
    assert trigger["FN_HTTP_REQUEST_URL"] == TRIGGER[1]
    assert trigger["FN_HTTP_H_USER_AGENT"] == "curl/8.5"
    assert trigger["FN_HTTP_H_X_CUSTOM_THING"] == "v 1"
    assert os.path.basename(trigger["FN_RESPONSE_HEADERS_FILE"]).endswith(".headers")
    assert invoke["FN_CALL_ID"] == "01OTHER" and invoke["FN_CONTENT_TYPE"] == "application/json"
    assert not any(k.startswith("FN_HTTP_") for k in invoke)
    assert invoke["FN_RESPONSE_HEADERS_FILE"] != trigger["FN_RESPONSE_HEADERS_FILE"]


def test_command_sets_status_and_headers_through_the_response_file(
    start_hotwrap: StartHotwrap,
) -> None:
    lines = "Status: 404 Not Found|Content-Type: text/csv|X-Thing: yes|X-Thing: again|"
    lines += "# a comment|not a header line||"
    script = (
        f'if [ -n "$(cat)" ]; then echo "{lines}" | tr "|" "\\n" > "$FN_RESPONSE_HEADERS_FILE"; '
        "fi; echo a,b"
    )
    fn = start_hotwrap(["/bin/sh", "-c", script])
    with fn.client() as client:
        reply = client.call(b"set", http=TRIGGER)
        plain = client.call(b"")
    assert reply.status == 200 and reply.http_status == 404
    assert reply.headers["Content-Type"] == "text/csv"
    assert reply.headers.get_all("Fn-Http-H-X-Thing") == ["yes", "again"]
    assert reply.body == b"a,b\n"
    assert plain.http_status == 200 and "Fn-Http-H-X-Thing" not in plain.headers
    fn.stop()
    assert "ignoring a line" in fn.log() and "not a header line" in fn.log()


def test_content_type_option(start_hotwrap: StartHotwrap) -> None:
    fn = start_hotwrap(["echo", "{}"], options=["--content-type", "application/json"])
    with fn.client() as client:
        assert client.call(b"").headers["Content-Type"] == "application/json"


def test_client_disconnecting_mid_call_does_not_stop_hotwrap(start_hotwrap: StartHotwrap) -> None:
    fn = start_hotwrap(["/bin/sh", "-c", "sleep 0.3; cat"])
    with fn.client() as gone:
        gone.send_request([("Host", "localhost")], b"abandoned")
    # closed while the command runs
    with fn.client() as half:
        half.send_raw(b"POST /call HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nonly part")
    # closed in the middle of the body
    time.sleep(0.5)
    with fn.client() as client:
        assert client.call(b"served").body == b"served"
    assert fn.proc.poll() is None


def test_malformed_request_is_refused_and_hotwrap_keeps_serving(
    start_hotwrap: StartHotwrap,
) -> None:
    fn = start_hotwrap(["cat"])
    with fn.client() as client:
        client.send_raw(
            b"POST /call HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nnot-hex\r\n\r\n"
        )
        assert client.read_response().status == 400
    with fn.client() as client:
        assert client.call(b"ok").body == b"ok"


def test_missing_command_exits_at_start() -> None:
    env = {**os.environ, "FN_LISTENER": "unix:/tmp/unused-hotwrap/lsnr.sock"}
    for argv in (
        [],
        ["no-such-command-x"],
        ["--mode", "bogus", "cat"],
        ["--buffer", "lots", "cat"],
    ):
        done = subprocess.run([hotwrap_binary(), *argv], env=env, capture_output=True, timeout=30)
        assert done.returncode != 0 and b"hotwrap: " in done.stderr, argv


def test_without_listener_in_default_format_it_runs_the_command_once() -> None:
    env = {k: v for k, v in os.environ.items() if k != "FN_LISTENER"}
    env["FN_FORMAT"] = "default"
    done = subprocess.run(
        [hotwrap_binary(), "tr", "a-z", "A-Z"],
        env=env,
        input=b"cold call",
        capture_output=True,
        timeout=30,
    )
    assert (done.returncode, done.stdout) == (0, b"COLD CALL")
