"""The http-stream message mapping (pure functions)."""

from __future__ import annotations

from hotfn.agent.httpstream import (
    CallRequest,
    CallResult,
    canonical,
    clean_response_headers,
    invoke_response_headers,
    request_headers,
    trigger_response,
)


def make_req(trigger: bool) -> CallRequest:
    return CallRequest(
        call_id="C1",
        method="GET",
        url="http://h/t/a/b?x=1",
        headers=[
            ("host", "h"),
            ("content-type", "text/plain"),
            ("x-my-header", "1"),
            ("transfer-encoding", "chunked"),
            ("fn-call-id", "forged"),
        ],
        body=b"",
        trigger=trigger,
    )


def test_canonical() -> None:
    assert canonical("x-my-header") == "X-My-Header"
    assert canonical("CONTENT-TYPE") == "Content-Type"


def test_invoke_request_headers() -> None:
    headers = dict(request_headers(make_req(False), "2026-01-01T00:00:00Z"))
    assert headers == {
        "content-type": "text/plain",
        "x-my-header": "1",
        "Fn-Call-Id": "C1",
        "Fn-Deadline": "2026-01-01T00:00:00Z",
    }


def test_trigger_request_headers() -> None:
    headers = dict(request_headers(make_req(True), "D"))
    assert headers["Fn-Http-H-X-My-Header"] == "1"
    assert "Fn-Http-H-Content-Type" not in headers
    assert "Fn-Http-H-Host" not in headers
    assert headers["Fn-Http-Method"] == "GET"
    assert headers["Fn-Http-Request-Url"] == "http://h/t/a/b?x=1"
    assert headers["Fn-Intent"] == "httprequest"
    assert headers["Fn-Call-Id"] == "C1"


def test_response_headers_drop_hop_by_hop() -> None:
    raw = [(b"Content-Length", b"3"), (b"Connection", b"keep-alive"), (b"X-A", b"1")]
    assert clean_response_headers(raw) == [(b"x-a", b"1")]


def test_invoke_response_keeps_function_headers() -> None:
    result = CallResult(200, [(b"content-type", b"text/plain"), (b"fn-http-status", b"201")])
    headers = invoke_response_headers(result, "C1")
    assert (b"fn-http-status", b"201") in headers and (b"fn-call-id", b"C1") in headers


def test_trigger_response_unwraps_status_and_headers() -> None:
    result = CallResult(
        200,
        [
            (b"content-type", b"text/plain"),
            (b"fn-http-status", b"201"),
            (b"fn-http-h-x-reply", b"yes"),
            (b"fn-fdk-version", b"fdk-python/1"),
        ],
    )
    status, headers = trigger_response(result, "C1")
    assert status == 201
    assert sorted(headers) == [
        (b"content-type", b"text/plain"),
        (b"fn-call-id", b"C1"),
        (b"x-reply", b"yes"),
    ]


def test_trigger_response_wrapped_content_type_wins() -> None:
    result = CallResult(200, [(b"content-type", b"a/b"), (b"fn-http-h-content-type", b"text/html")])
    _, headers = trigger_response(result, "C1")
    assert [v for k, v in headers if k == b"content-type"] == [b"text/html"]


def test_trigger_response_defaults_to_200_and_ignores_bad_status() -> None:
    assert trigger_response(CallResult(200, []), "C")[0] == 200
    assert trigger_response(CallResult(200, [(b"fn-http-status", b"abc")]), "C")[0] == 200
