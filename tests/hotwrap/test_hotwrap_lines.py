"""hotwrap --mode lines (one long-lived process) and the pieces tested in-process."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hotfn.fdk import Headers
from hotfn.fdk.testing import FunctionProcess
from hotfn.hotwrap import hotwrap_snippet
from hotfn.hotwrap.__main__ import Options, UsageError, command_argv
from hotfn.hotwrap.calls import call_environment, failure_body, read_response_file

# Upper-cases each line; "die" exits 7, "sleep" hangs, "pid" prints its pid.
TOOL = """
import os, sys, time
for line in sys.stdin:
    line = line.rstrip("\\n")
    if line == "die":
        print("dying now", file=sys.stderr, flush=True)
        sys.exit(7)
    if line == "sleep":
        time.sleep(60)
    if line == "pid":
        line = str(os.getpid())
    print(line.upper(), flush=True)
"""

StartHotwrap = Callable[..., FunctionProcess]  # the start_hotwrap fixture (conftest.py)


@pytest.fixture
def tool(start_hotwrap: StartHotwrap) -> FunctionProcess:
    return start_hotwrap([sys.executable, "-c", TOOL], options=["--mode", "lines"])


def test_one_process_answers_every_call(tool: FunctionProcess) -> None:
    with tool.client() as client:
        first = client.call(b"pid").body
        for word in (b"alpha", b"beta\n", b""):
            reply = client.call(word)
            assert (reply.status, reply.body) == (200, word.strip().upper())
        assert client.call(b"pid").body == first  # same process


def test_multi_line_body_is_refused(tool: FunctionProcess) -> None:
    with tool.client() as client:
        reply = client.call(b"one\ntwo")
        assert reply.status == 502 and "single line" in json.loads(reply.body)["message"]
        assert client.call(b"ok").body == b"OK"


def test_a_dying_command_is_502_then_restarted(tool: FunctionProcess) -> None:
    with tool.client() as client:
        before = client.call(b"pid").body
        reply = client.call(b"die")
        assert reply.status == 502 and reply.headers["Fn-Hotwrap-Exit-Code"] == "7"
        message = json.loads(reply.body)["message"]
        assert "exited with code 7" in message and "dying now" in message
        after = client.call(b"pid").body
        assert after.isdigit() and after != before


def test_deadline_kills_and_restarts(tool: FunctionProcess) -> None:
    with tool.client() as client:
        before = client.call(b"pid").body
        started = time.monotonic()
        assert client.call(b"sleep", deadline=0.4).status == 504
        assert time.monotonic() - started < 3
        assert client.call(b"pid").body != before
        assert client.call(b"x").body == b"X"


def test_options_before_the_command_only() -> None:
    options = Options(["--mode=lines", "--buffer", "10", "--", "cmd", "--mode", "x"], {})
    assert (options.mode, options.buffer, options.command) == ("lines", 10, ["cmd", "--mode", "x"])
    from_env = Options(["cmd"], {"HOTWRAP_MODE": "lines", "HOTWRAP_BUFFER_BYTES": "5"})
    assert (from_env.mode, from_env.buffer) == ("lines", 5)
    assert Options(["--buffer", "7", "cmd"], {"HOTWRAP_BUFFER_BYTES": "5"}).buffer == 7
    for bad in ([], ["--nope", "cmd"], ["--mode"], ["--mode", "x", "cmd"], ["--buffer=-1", "c"]):
        with pytest.raises(UsageError):
            Options(bad, {})


def test_command_argv() -> None:
    assert command_argv(["node ./func.js"]) == ["/bin/sh", "-c", "node ./func.js"]
    assert command_argv(["node", "./func.js"]) == ["node", "./func.js"]
    assert command_argv(["cat"]) == ["cat"]


def test_call_environment_uses_fn_request_headers() -> None:
    headers = Headers(
        [
            ("Fn-Call-Id", "c"),
            ("Fn-Http-H-X-Dashed-Name", "1"),
            ("Fn-Http-Method", "GET"),
            ("Fn-Http-Request-Url", "http://u/t/a"),
            ("Fn-Intent", "httprequest"),
        ]
    )
    env = call_environment({"BASE": "b", "FN_CALL_ID": "stale"}, headers, None)
    assert env["BASE"] == "b" and env["FN_CALL_ID"] == "c" and env["FN_DEADLINE"] == ""
    assert env["FN_HTTP_H_X_DASHED_NAME"] == "1" and env["FN_HTTP_METHOD"] == "GET"
    assert "FN_RESPONSE_HEADERS_FILE" not in env


def test_read_response_file(tmp_path: Path) -> None:
    path = tmp_path / "r"
    assert read_response_file(str(path)) == (200, [])
    path.write_text("Status: 418 I'm a teapot\r\nX-A:  b \nStatus: nonsense\n\n")
    assert read_response_file(str(path)) == (418, [("X-A", "b")])


def test_failure_body_keeps_the_last_lines() -> None:
    tail = "".join(f"l{i}\n" for i in range(50)).encode()
    message = json.loads(failure_body(2, tail, lines=3))["message"]
    assert message == "command exited with code 2; last lines of stderr:\nl47\nl48\nl49"
    assert json.loads(failure_body(-9, b""))["message"] == "command was killed by signal SIGKILL"


def test_snippet_matches_the_reference_dockerfile_shape() -> None:
    snippet = hotwrap_snippet()
    assert "COPY --from=hotfn/hotwrap:latest /hotwrap /hotwrap\n" in snippet
    assert 'ENTRYPOINT ["/hotwrap"]\n' in snippet and "CMD node ./func.js\n" in snippet
    assert "COPY --from=mine:1 /hotwrap" in hotwrap_snippet("mine:1", '["wc", "-l"]')


def test_docs_show_the_snippet() -> None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "docs", "hotwrap.md")) as doc:
        text = doc.read()
    assert "COPY --from=hotfn/hotwrap:latest /hotwrap /hotwrap" in text
    assert "FN_RESPONSE_HEADERS_FILE" in text
