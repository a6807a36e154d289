"""Factories for objects created through the API under test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

Obj = dict[str, Any]


def ok(response: httpx.Response, status: int = 200) -> Obj:
    assert response.status_code == status, response.text
    body: Obj = response.json()
    return body


@pytest.fixture
def make_app(api: httpx.Client, uniq: Callable[[str], str]) -> Callable[..., Obj]:
    def make(**fields: Any) -> Obj:
        return ok(api.post("/v2/apps", json={"name": uniq("app"), **fields}))

    return make


@pytest.fixture
def make_fn(
    api: httpx.Client, uniq: Callable[[str], str], make_app: Callable[..., Obj]
) -> Callable[..., Obj]:
    def make(app: Obj | None = None, **fields: Any) -> Obj:
        app = app or make_app()
        body = {"name": uniq("fn"), "app_id": app["id"], "image": "hotfn/test:1", **fields}
        return ok(api.post("/v2/fns", json=body))

    return make


@pytest.fixture
def make_trigger(
    api: httpx.Client, uniq: Callable[[str], str], make_fn: Callable[..., Obj]
) -> Callable[..., Obj]:
    def make(fn: Obj | None = None, **fields: Any) -> Obj:
        fn = fn or make_fn()
        name = uniq("trig")
        body = {
            "name": name,
            "app_id": fn["app_id"],
            "fn_id": fn["id"],
            "type": "http",
            "source": f"/{name}",
            **fields,
        }
        return ok(api.post("/v2/triggers", json=body))

    return make
