"""hotwrap --mode lines (one long-lived process), the snippet and the docs.

The parsing pieces (options, per-call environment, response file, 502 message)
are unit-tested in Go: hotwrap/contract_test.go, run by scripts/build-hotwrap.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from hotfn.cli.templates import hotwrap_snippet
from hotfn.fdk.testing import FunctionProcess
from tests.hotwrap.conftest import StartHotwrap

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
