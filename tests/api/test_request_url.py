"""The request URL a call sends the function (hotfn/api/invoke.py ``request_url``):
Starlette's, remembered per scope fields, bounded."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import URL

from hotfn.api import invoke


def scope(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http", "scheme": "http", "server": ("127.0.0.1", 8080), "root_path": "",
        "path": "/t/app/hook", "query_string": b"", "headers": [(b"host", b"h.example:8080")],
    }  # fmt: skip
    return {**base, **over}


SCOPES = [
    scope(),
    scope(query_string=b"a=1&b=%20x"),
    scope(path="/t/app/ünï code?#"),
    scope(headers=[]),  # no Host: the server's address
    scope(headers=[], server=("::1", 80)),
    scope(headers=[], server=("10.0.0.1", 443), scheme="https"),
    scope(headers=[(b"host", b"bad host:99999")]),  # invalid: Starlette falls back
    scope(headers=[(b"x", b"y"), (b"host", b"second.example")]),
    scope(headers=[], server=None),
    scope(headers=[], server=["10.0.0.2", 81]),  # a list, not a tuple
]


@pytest.mark.parametrize("s", SCOPES)
def test_the_url_is_starlettes(s: dict[str, Any]) -> None:
    expected = str(URL(scope=s))  # type: ignore[arg-type]
    assert invoke.request_url(s) == expected  # type: ignore[arg-type]
    assert invoke.request_url(s) == expected  # type: ignore[arg-type]  (remembered)


def test_distinct_scopes_never_share_an_entry() -> None:
    urls = {invoke.request_url(s) for s in SCOPES}  # type: ignore[arg-type]
    assert urls == {str(URL(scope=s)) for s in SCOPES}  # type: ignore[arg-type]


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invoke, "_URLS", {})
    for i in range(invoke._URLS_MAX * 2 + 5):
        url = invoke.request_url(scope(query_string=b"n=%d" % i))  # type: ignore[arg-type]
        assert url.endswith(f"?n={i}")
        assert len(invoke._URLS) <= invoke._URLS_MAX
