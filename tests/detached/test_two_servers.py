"""Two servers on one PostgreSQL share the detached queue: 500 calls sent to both
all run, each exactly once, never on both servers, as the function's own ledger
(its containers' logs) shows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.detached.conftest import DETACHED, Entry, Server, ServerFactory

pytestmark = pytest.mark.docker

CALLS = 500


def _send(server: Server, fn_id: str, n: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=server.proc.url, timeout=60) as client:
        for _ in range(n):
            resp = client.post(f"/invoke/{fn_id}", content=b"sleep:0.01", headers=DETACHED)
            assert resp.status_code == 202, resp.text
            ids.append(resp.headers["fn-call-id"])
    return ids


def test_two_servers_on_one_postgres_run_500_calls_each_exactly_once(
    queue_server: ServerFactory, make_db_url: Callable[[str], str]
) -> None:
    url = make_db_url("postgres")
    a, b = queue_server(url), queue_server(url)
    fn = a.deploy()
    with ThreadPoolExecutor(10) as pool:
        parts = [pool.submit(_send, (a, b)[i % 2], fn["id"], CALLS // 10) for i in range(10)]
        sent = [call_id for part in parts for call_id in part.result()]
    assert len(set(sent)) == CALLS

    records = a.wait_ended(fn, sent, within_s=300)
    assert {r["status"] for r in records.values()} == {"success"}
    assert {r["attempts"] for r in records.values()} == {1}

    ledger: dict[str, list[Entry]] = defaultdict(list)
    for entry in a.ledger() + b.ledger():
        ledger[entry.call_id].append(entry)
    assert set(ledger) == set(sent)  # none lost, nothing extra
    twice = {cid: es for cid, es in ledger.items() if [e.what for e in es] != ["start", "end"]}
    assert not twice, f"calls that did not run exactly once: {list(twice.items())[:3]}"
    by_server = {e.instance for es in ledger.values() for e in es}
    assert by_server == {a.instance, b.instance}  # both servers took part
