"""Detached calls on real servers and the real engine, on SQLite and PostgreSQL:
nothing acknowledged is lost to a SIGKILL, failures end as dead letters after exactly
1 + retries attempts (counted in the function's own ledger), the on-failure fn gets
them, a re-drive runs them again, and the limits refuse without storing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.detached.conftest import DETACHED, ServerFactory
from tests.waiting import wait_until

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("db", BACKENDS)
def test_sigkill_after_202s_then_restart_runs_every_call(
    queue_server: ServerFactory, make_db_url: Callable[[str], str], db: str
) -> None:
    url = make_db_url(db)
    first = queue_server(url)
    fn = first.deploy()
    call_ids = [first.detached(fn, b"sleep:0.3") for _ in range(12)]
    first.proc.kill()  # SIGKILL right after the 202s: some queued, some mid-call
    # The function's own log so far (its containers outlive the server; the restart
    # removes them).
    before = first.ledger()

    again = queue_server(url, data_dir=first.proc.data_dir, instance=first.instance)
    records = again.wait_ended(fn, call_ids, within_s=120)
    assert {r["status"] for r in records.values()} == {"success"}
    # Every call ran to its end: before the kill, or after the restart.
    ended = {e.call_id for e in before + again.ledger() if e.what == "end"}
    assert set(call_ids) <= ended, sorted(set(call_ids) - ended)


@pytest.mark.parametrize("db", BACKENDS)
def test_always_failing_call_dead_letter_on_failure_and_redrive(
    queue_server: ServerFactory, make_db_url: Callable[[str], str], db: str
) -> None:
    server = queue_server(make_db_url(db))
    sink = server.deploy()
    fn = server.deploy(**{"hotfn.io/async-retries": 2, "hotfn.io/on-failure": sink["id"]})
    call_id = server.detached(fn, b"fail")
    rec = server.wait_ended(fn, [call_id])[call_id]
    assert (rec["status"], rec["attempts"]) == ("failed", 3)
    assert rec["error"] == "attempt 3 of 3 failed: function failed"
    assert [c["id"] for c in server.calls(fn, status="failed")] == [call_id]

    def starts() -> list[str]:
        return [e.rest.split()[0] for e in server.ledger()
                if e.what == "start" and e.call_id == call_id]  # fmt: skip

    assert sorted(starts()) == ["1", "2", "3"]  # exactly 1 + retries, numbered

    # The on-failure fn got the original body, and its call succeeded.
    [forwarded] = server.wait_ended(sink, [c["id"] for c in server.calls(sink)]).values()
    assert forwarded["status"] == "success"
    dead = [e for e in server.ledger() if e.what == "dead"]
    assert [(e.call_id, e.rest) for e in dead] == [(call_id, "fail")]

    # Re-drive: it runs again (3 more attempts) and fails again.
    resp = server.http.post(f"/v2/fns/{fn['id']}/calls/{call_id}/retry")
    assert resp.status_code == 202, resp.text

    def failed_again() -> bool:
        return len(starts()) == 6 and server.record(fn, call_id)["status"] == "failed"

    wait_until(failed_again, within_s=60, what="the re-driven call fails again")
    assert server.record(fn, call_id)["attempts"] == 3


@pytest.mark.parametrize("db", BACKENDS)
def test_over_the_body_limit_413_full_queue_503_neither_stored(
    queue_server: ServerFactory, make_db_url: Callable[[str], str], db: str
) -> None:
    # This server accepts 5 open calls and runs none, so the queue stays full.
    server = queue_server(
        make_db_url(db), HOTFN_DETACHED_QUEUE_MAX="5", HOTFN_DETACHED_MAX_RUNNING="0"
    )
    fn = server.deploy()
    path = f"/invoke/{fn['id']}"
    big = server.http.post(path, content=b"x" * (256 * 1024 + 1), headers=DETACHED)
    assert big.status_code == 413, big.text
    accepted = [server.detached(fn, b"ok") for _ in range(5)]
    full = server.http.post(path, content=b"ok", headers=DETACHED)
    assert full.status_code == 503 and full.headers["retry-after"] == "5", full.text
    records = server.calls(fn)
    assert sorted(r["id"] for r in records) == sorted(accepted)
    assert Counter(r["status"] for r in records) == {"queued": 5}
    for refused in (big, full):
        got = server.http.get(f"/v2/fns/{fn['id']}/calls/{refused.headers['fn-call-id']}")
        assert got.status_code == 404, got.text
    assert isinstance(server.http, httpx.Client)
