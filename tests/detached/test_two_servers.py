"""Two servers on one PostgreSQL share the detached queue: 500 calls sent to both
all run, each exactly once, never on both servers, as the function's own ledger
(its containers' logs) shows; a call enqueued on one wakes the other (NOTIFY); a
call of a server that died runs on the other once its lease ran out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.detached.conftest import DETACHED, Entry, Server, ServerFactory
from tests.docker_support import remove_containers_with
from tests.waiting import wait_until

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


def test_a_call_enqueued_on_one_server_wakes_the_other_through_notify(
    queue_server: ServerFactory, make_db_url: Callable[[str], str]
) -> None:
    url = make_db_url("postgres")
    # a runs nothing; b polls only every 10 minutes: only NOTIFY can wake it in time.
    a = queue_server(url, HOTFN_DETACHED_MAX_RUNNING="0")
    b = queue_server(url, HOTFN_DETACHED_POLL="600")
    fn = a.deploy()
    sent = [a.detached(fn, b"hello") for _ in range(5)]
    records = b.wait_ended(fn, sent, within_s=120)
    assert {r["status"] for r in records.values()} == {"success"}
    assert {e.call_id for e in b.ledger() if e.what == "end"} == set(sent)


def test_a_call_of_a_server_that_died_runs_on_another_after_its_lease(
    queue_server: ServerFactory, make_db_url: Callable[[str], str]
) -> None:
    url = make_db_url("postgres")
    a = queue_server(url, HOTFN_DETACHED_LEASE="3")
    fn = a.deploy()
    call_id = a.detached(fn, b"sleep:15")
    wait_until(lambda: any(e.what == "start" for e in a.ledger()), within_s=60,
               what="the call starts on a")  # fmt: skip
    a.proc.kill()  # mid-call: its lease is no longer renewed
    try:
        b = queue_server(url, HOTFN_DETACHED_LEASE="3", HOTFN_DETACHED_POLL="0.5")
        record = b.wait_ended(fn, [call_id], within_s=120)[call_id]
        assert (record["status"], record["attempts"]) == ("success", 2)
        on_a = [(e.what, e.rest.split()[0]) for e in a.ledger() if e.call_id == call_id]
        on_b = [(e.what, e.rest.split()[0]) for e in b.ledger() if e.call_id == call_id]
        # (a's container may still finish attempt 1: the server died, not the container;
        # that is the "at least once".)
        assert on_a[0] == ("start", "1") and on_b == [("start", "2"), ("end", "2")]
    finally:
        remove_containers_with({"io.hotfn.instance": a.instance})  # a died: nobody else will
