"""``hotfn invoke APP FN``: call a function through ``POST /invoke/{fn_id}``.

The response body goes to stdout byte for byte (pipe it anywhere); a failed call
(the function raised, timed out, or the server could not run it) is one line on
stderr with the server's message and the call id, and exit code 1.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hotfn.cli.client import Api, server_message
from hotfn.cli.common import CliError, note, usage_error

# Long enough for the longest fn timeout (300 s) plus starting a container.
INVOKE_TIMEOUT = 330.0


def _body(data: str | None) -> bytes:
    if data is not None:
        return data.encode()
    if sys.stdin is None or sys.stdin.isatty():
        return b""  # nothing piped in: an empty body, as Fn's CLI sends
    return sys.stdin.buffer.read()


def invoke(
    app: Annotated[str, typer.Argument(help="App name.")],
    fn: Annotated[str, typer.Argument(help="Function name.")],
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Request body (default: stdin).")
    ] = None,
    content_type: Annotated[
        str | None, typer.Option("--content-type", help="Content-Type of the body.")
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'Name: value', repeatable.")
    ] = None,
    display_call_id: Annotated[
        bool, typer.Option("--display-call-id", help="Print the call id (on stderr).")
    ] = False,
) -> None:
    """Call a function and print its response; exit 1 if the call failed.

    Example: echo '{"name": "Ann"}' | hotfn invoke demo hello --content-type application/json
    """
    headers: dict[str, str] = {}
    for item in header or []:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise usage_error(f"--header {item!r}: expected 'Name: value'")
        headers[key.strip()] = value.strip()
    if content_type:
        headers["Content-Type"] = content_type
    with Api(timeout=INVOKE_TIMEOUT) as api:
        _, target = api.fn(app, fn)  # before reading stdin: a typo fails at once
        body = _body(data)
        response = api.send("POST", f"/invoke/{target['id']}", content=body, headers=headers)
    call_id = response.headers.get("fn-call-id", "")
    if display_call_id and call_id:
        note(f"Call ID: {call_id}")
    if response.status_code >= 400:
        hint = f"; its log: `hotfn logs {app} {fn} {call_id}`" if call_id else ""
        why = f"HTTP {response.status_code}): {server_message(response)}"
        raise CliError(f"call to {app}/{fn} failed ({why}{hint}")
    sys.stdout.buffer.write(response.content)
    sys.stdout.buffer.flush()
