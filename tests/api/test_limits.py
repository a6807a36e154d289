"""Call limits: request body (413), response body (502), header count and size (431).

Most run in-process on the fake driver (which echoes the body, so a body over the
response limit makes a response over it); the socket-level ones (a declared
Content-Length refused before the body is read, chunked bodies, header blocks
uvicorn accepts whole) run against a real ``hotfn start`` server.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_support import ServerProcess, in_process_client

Obj = dict[str, Any]
MakeFn = Callable[..., Awaitable[Obj]]
MiB = 1024 * 1024


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    limits = {"max_call_body": 1000, "max_call_response": 3000, "call_log_max_bytes": 200}
    async with in_process_client(tmp_path, max_queue_wait=5.0, **limits) as c:
        yield c


@pytest.fixture
def make_fn(client: httpx.AsyncClient) -> MakeFn:
    async def make(app_annotations: Obj | None = None, **fields: Any) -> Obj:
        app_body = {"name": "a" + secrets.token_hex(3), "annotations": app_annotations or {}}
        app = (await client.post("/v2/apps", json=app_body)).json()
        body = {"name": "f", "app_id": app["id"], "image": "fake/echo", **fields}
        resp = await client.post("/v2/fns", json=body)
        assert resp.status_code == 200, resp.text
        fn: Obj = resp.json()
        fn["app_name"] = app["name"]
        return fn

    return make


async def test_request_body_over_server_limit_is_413(
    client: httpx.AsyncClient, make_fn: MakeFn
) -> None:
    fn = await make_fn()
    assert (await client.post(f"/invoke/{fn['id']}", content=b"x" * 1000)).status_code == 200
    resp = await client.post(f"/invoke/{fn['id']}", content=b"x" * 1001)
    assert resp.status_code == 413
    assert resp.json()["message"] == (
        "request body is 1001 bytes, over this fn's limit of 1000 bytes; "
        "raise it with the annotation hotfn.io/max-body-bytes"
    )
    assert resp.headers["fn-call-id"]


async def test_request_body_limit_per_fn_and_app(
    client: httpx.AsyncClient, make_fn: MakeFn
) -> None:
    bigger = await make_fn(annotations={"hotfn.io/max-body-bytes": 5000})
    assert (await client.post(f"/invoke/{bigger['id']}", content=b"x" * 2500)).status_code == 200
    smaller = await make_fn(app_annotations={"hotfn.io/max-body-bytes": "10"})
    resp = await client.post(f"/invoke/{smaller['id']}", content=b"x" * 11)
    assert resp.status_code == 413 and "limit of 10 bytes" in resp.json()["message"]
    # A value that is no number falls back to the server's limit.
    odd = await make_fn(annotations={"hotfn.io/max-body-bytes": {"no": 1}})
    assert (await client.post(f"/invoke/{odd['id']}", content=b"x" * 1001)).status_code == 413


async def test_chunked_request_body_is_counted_while_streaming(
    client: httpx.AsyncClient, make_fn: MakeFn
) -> None:
    fn = await make_fn()

    async def chunks(n: int) -> AsyncIterator[bytes]:
        for _ in range(n):
            yield b"y" * 300

    resp = await client.post(f"/invoke/{fn['id']}", content=chunks(3))
    assert resp.status_code == 200 and len(resp.content) == 900
    resp = await client.post(f"/invoke/{fn['id']}", content=chunks(4))
    assert resp.status_code == 413
    assert resp.json()["message"].startswith("request body is more than 1000 bytes")


async def test_trigger_body_limit(client: httpx.AsyncClient, make_fn: MakeFn) -> None:
    fn = await make_fn()
    trig = {"name": "t", "app_id": fn["app_id"], "fn_id": fn["id"], "type": "http",
            "source": "/up"}  # fmt: skip
    assert (await client.post("/v2/triggers", json=trig)).status_code == 200
    resp = await client.put(f"/t/{fn['app_name']}/up", content=b"z" * 2000)
    assert resp.status_code == 413 and "hotfn.io/max-body-bytes" in resp.json()["message"]


async def test_response_over_limit_is_502_and_names_the_annotation(
    client: httpx.AsyncClient, make_fn: MakeFn
) -> None:
    # The fake echoes: a 900-byte body makes a 900-byte response.
    fn = await make_fn(annotations={"hotfn.io/max-response-bytes": 500})
    resp = await client.post(f"/invoke/{fn['id']}", content=b"r" * 900)
    assert resp.status_code == 502
    assert resp.json()["message"] == (
        "function response too large: over this fn's limit of 500 bytes; "
        "raise it with the annotation hotfn.io/max-response-bytes"
    )
    # The container was replaced; the next call is served.
    resp = await client.post(f"/invoke/{fn['id']}", content=b"small")
    assert resp.status_code == 200 and resp.content == b"small"
    call = resp.headers["fn-call-id"]
    calls = (await client.get(f"/v2/fns/{fn['id']}/calls")).json()["items"]
    failed = [c for c in calls if c["id"] != call]
    assert failed and failed[0]["http_status"] == 502


async def test_default_format_response_limit(client: httpx.AsyncClient, make_fn: MakeFn) -> None:
    fn = await make_fn(format="default")
    resp = await client.post(f"/invoke/{fn['id']}", content=b"big:2999")
    assert resp.status_code == 200 and len(resp.content) == 2999
    resp = await client.post(f"/invoke/{fn['id']}", content=b"big:3001")
    assert resp.status_code == 502 and "limit of 3000 bytes" in resp.json()["message"]


async def test_call_log_is_bounded_with_a_marker(
    client: httpx.AsyncClient, make_fn: MakeFn
) -> None:
    fn = await make_fn(format="default")
    lines = b"\n".join(b"line %d" % i for i in range(100))
    resp = await client.post(f"/invoke/{fn['id']}", content=b"stderr:" + lines)
    call_id = resp.headers["fn-call-id"]
    for _ in range(100):  # written in the background
        resp = await client.get(
            f"/v2/fns/{fn['id']}/calls/{call_id}/log", headers={"Accept": "text/plain"}
        )
        if resp.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert resp.status_code == 200
    assert resp.text.startswith("stderr: line 0\n")
    assert "more bytes of log dropped (limit 200)" in resp.text
    assert len(resp.text.encode()) < 200 + 100


async def test_too_many_or_too_large_headers_are_431(
    client: httpx.AsyncClient, make_fn: MakeFn
) -> None:
    fn = await make_fn()
    many = {f"x-h{i}": "v" for i in range(101)}
    resp = await client.post(f"/invoke/{fn['id']}", content=b"x", headers=many)
    assert resp.status_code == 431
    assert "over the server's limit of 100 (HOTFN_MAX_CALL_HEADERS)" in resp.json()["message"]
    resp = await client.post(f"/invoke/{fn['id']}", content=b"x", headers={"x-big": "a" * 40_000})
    assert resp.status_code == 431 and "HOTFN_MAX_CALL_HEADER_BYTES" in resp.json()["message"]
    assert resp.headers["fn-call-id"]
    ok = {f"x-h{i}": "v" * 100 for i in range(90)}
    assert (await client.post(f"/invoke/{fn['id']}", content=b"x", headers=ok)).status_code == 200


# -- on a real server (uvicorn + httptools): what reaches the socket ----------------


@pytest.fixture(scope="module")
def limits_server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    # No Docker needed: every request here is refused before a container is asked for.
    return make_server(None, HOTFN_MAX_CALL_BODY=str(MiB))


@pytest.fixture(scope="module")
def limits_fn(limits_server: ServerProcess) -> Iterator[str]:
    with httpx.Client(base_url=limits_server.url, timeout=30) as api:
        app = api.post("/v2/apps", json={"name": "limits"}).json()
        fn = api.post(
            "/v2/fns", json={"name": "f", "app_id": app["id"], "image": "hotfn/none:1"}
        ).json()
        yield fn["id"]


def _raw_exchange(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send ``head`` (and ``body``) on a plain socket; the response head."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_declared_length_refused_before_the_body_is_sent(
    limits_server: ServerProcess, limits_fn: str
) -> None:
    # The head alone gets the answer: the server does not wait for 100 MB.
    head = (
        f"POST /invoke/{limits_fn} HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n"
    ).encode()
    answer = _raw_exchange(limits_server.port, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_real_server_413_for_sent_and_chunked_bodies(
    limits_server: ServerProcess, limits_fn: str
) -> None:
    with httpx.Client(base_url=limits_server.url, timeout=30) as c:
        resp = c.post(f"/invoke/{limits_fn}", content=b"b" * (MiB + 1))
        assert resp.status_code == 413
        assert f"over this fn's limit of {MiB} bytes" in resp.json()["message"]
        # A chunked body past 64 KiB streams into the container and is cut at the
        # limit there (413): tests/agent/test_docker_streaming.py.
        # The connection stays usable after a refused body.
        assert c.get("/version").status_code == 200


def test_real_server_431_for_200_headers_and_100_kb_header(
    limits_server: ServerProcess, limits_fn: str
) -> None:
    path = f"POST /invoke/{limits_fn} HTTP/1.1\r\nHost: x\r\n".encode()
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    answer = _raw_exchange(limits_server.port, path + many + b"Content-Length: 0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    big = b"X-Big: " + b"a" * 100_000 + b"\r\n"
    answer = _raw_exchange(limits_server.port, path + big + b"Content-Length: 0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
