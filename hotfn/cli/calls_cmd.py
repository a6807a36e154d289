"""``hotfn calls``, ``hotfn logs`` and ``hotfn retry``: a function's call records,
what it wrote, and re-driving a failed detached call (Fn's calls/logs API, which
hotfn brings back: design.md §5; detached calls: docs/detached.md)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from hotfn.cli.client import Api, Obj
from hotfn.cli.common import CliError, OutputOpt, out
from hotfn.cli.output import show_list, show_object

CALL_COLUMNS = [
    ("ID", "id"),
    ("STATUS", "status"),
    ("HTTP", "http_status"),
    ("ATTEMPTS", "attempts"),
    ("CREATED", "created_at"),
    ("PATH", "start_path"),
    ("RUN MS", "run_ms"),
    ("ERROR", "error"),
]
FOLLOW_POLL_S = 0.5

AppArg = Annotated[str, typer.Argument(help="App name.")]
FnArg = Annotated[str, typer.Argument(help="Function name.")]


def calls(
    app: AppArg,
    fn: FnArg,
    call_id: Annotated[str | None, typer.Argument(help="One call to show.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 30,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only calls with this status: queued, running, success, error, timeout, "
            "failed (detached calls out of attempts: the dead letters) or cancelled.",
        ),
    ] = None,
    output: OutputOpt = "table",
) -> None:
    """List a function's calls, newest first (or show one call).

    Example: hotfn calls demo hello -n 5 --status failed
    """
    with Api() as api:
        _, target = api.fn(app, fn)
        base = f"/v2/fns/{target['id']}/calls"
        if call_id:
            show_object(api.call("GET", f"{base}/{call_id}"), output)
            return
        rows = []
        for item in api.items(base, **({"status": status} if status else {})):
            rows.append(item)
            if len(rows) >= limit:
                break
    show_list(rows, CALL_COLUMNS, output)


def retry(
    app: AppArg,
    fn: FnArg,
    call_id: Annotated[str, typer.Argument(help="The failed detached call.")],
    output: OutputOpt = "table",
) -> None:
    """Run a failed detached call again, with a fresh set of attempts.

    Example: hotfn retry demo hello 01JD5Q3W3ZQ8F4N5X2Y7K9M0AB
    """
    with Api() as api:
        _, target = api.fn(app, fn)
        show_object(api.call("POST", f"/v2/fns/{target['id']}/calls/{call_id}/retry"), output)


def _log(api: Api, base: str, call_id: str) -> str:
    response = api.send("GET", f"{base}/{call_id}/log", headers={"Accept": "text/plain"})
    if response.status_code == 404:
        raise CliError(f"no call {call_id} (or no log kept for it)")
    if response.status_code >= 400:
        raise CliError(f"reading the log of call {call_id} failed (HTTP {response.status_code})")
    return response.text


def _done(record: Obj) -> bool:
    return record.get("status") not in (None, "running", "queued")


def _print(text: str) -> None:
    out().print(text, markup=False, end="" if text.endswith("\n") else "\n")


def logs(
    app: AppArg,
    fn: FnArg,
    call_id: Annotated[
        str | None, typer.Argument(help="The call (default: the latest one).")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Wait for the call to finish; without CALL_ID, "
            "keep printing the logs of new calls until Ctrl-C.",
        ),
    ] = False,
) -> None:
    """Print what a function wrote (stdout and stderr) during a call.

    Example: hotfn logs demo hello 01JD5Q3W3ZQ8F4N5X2Y7K9M0AB
    """
    with Api() as api:
        _, target = api.fn(app, fn)
        base = f"/v2/fns/{target['id']}/calls"
        if call_id:
            while follow and not _done(api.call("GET", f"{base}/{call_id}")):
                time.sleep(FOLLOW_POLL_S)
            _print(_log(api, base, call_id))
            return
        if not follow:
            latest = api.call("GET", base, params={"per_page": 1}).get("items", [])
            if not latest:
                raise CliError(f"{app}/{fn} has no calls yet; invoke it first")
            _print(_log(api, base, latest[0]["id"]))
            return
        _follow(api, base)


def _follow(api: Api, base: str) -> None:
    """Logs of calls that finish from now on, oldest first, until Ctrl-C."""
    first = api.call("GET", base, params={"per_page": 100}).get("items", [])
    seen = {c["id"] for c in first if _done(c)}
    try:
        while True:
            page = api.call("GET", base, params={"per_page": 100}).get("items", [])
            for record in reversed(page):
                if record["id"] in seen or not _done(record):
                    continue
                seen.add(record["id"])
                _print(f"== call {record['id']} ({record.get('status')}) ==")
                _print(_log(api, base, record["id"]))
            time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        return
