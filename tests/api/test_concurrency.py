"""Concurrent creates of one name: exactly one wins, the rest get 409."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from tests.api.conftest import Obj
from tests.server_support import ServerProcess


async def _race(url: str, path: str, body: dict[str, str], n: int) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        responses = await asyncio.gather(*(client.post(path, json=body) for _ in range(n)))
    return [r.status_code for r in responses]


async def test_concurrent_app_creates(
    api_server: ServerProcess, uniq: Callable[[str], str]
) -> None:
    statuses = await _race(api_server.url, "/v2/apps", {"name": uniq("race")}, 20)
    assert statuses.count(200) == 1
    assert statuses.count(409) == 19


async def test_concurrent_fn_creates(
    api_server: ServerProcess, make_app: Callable[..., Obj], uniq: Callable[[str], str]
) -> None:
    app = make_app()
    body = {"name": uniq("race"), "app_id": app["id"], "image": "x"}
    statuses = await _race(api_server.url, "/v2/fns", body, 20)
    assert sorted(statuses) == [200] + [409] * 19
