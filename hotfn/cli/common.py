"""What every command shares: the error type that becomes one line on stderr, the
consoles, the global options (server address) and small parsers for flag values.

Errors are raised as :class:`CliError` anywhere below a command and turned into
``error: <message>`` plus an exit code by ``main.main`` (2 for usage and func.yaml
problems, 1 for everything that went wrong at run time), so no command prints a
traceback.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console

DEFAULT_API_URL = "http://localhost:8080"
EXIT_FAILED = 1  # a call failed, the server said no, Docker failed
EXIT_USAGE = 2  # bad flags, bad func.yaml: the user must change what they typed


class CliError(Exception):
    """A failure the user can act on; ``message`` is one line saying what to do."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def usage_error(message: str) -> CliError:
    return CliError(message, EXIT_USAGE)


def _console(stream: Any) -> Console:
    # Off a terminal (pipes, tests) rich would wrap tables at 80 columns and cut ids
    # and image names; a wide virtual width keeps every row on one line.
    tty = bool(getattr(stream, "isatty", lambda: False)())
    return Console(file=stream, width=None if tty else 4096, highlight=False, soft_wrap=not tty)


def out() -> Console:
    """A console on stdout (made per call: tests swap ``sys.stdout``)."""
    return _console(sys.stdout)


def err() -> Console:
    """A console on stderr for progress and notes."""
    return _console(sys.stderr)


def note(message: str) -> None:
    """A line of progress on stderr, so stdout stays what scripts parse."""
    err().print(message, markup=False)


@dataclass
class CliOptions:
    """The CLI's global options (not the server's ``hotfn.config.Settings``), set by
    the main callback before any command runs."""

    api_url: str = DEFAULT_API_URL
    token: str | None = None  # sent as "Authorization: Bearer" (the server's HOTFN_TOKEN)
    verbose: bool = False


SETTINGS = CliOptions()


def api_url_from_env() -> str:
    """``HOTFN_API_URL``, then Fn's ``FN_API_URL``, then the default."""
    return os.environ.get("HOTFN_API_URL") or os.environ.get("FN_API_URL") or DEFAULT_API_URL


def parse_pairs(values: list[str] | None, what: str) -> dict[str, str]:
    """``KEY=VALUE`` flags (``--config``) as a dict; a value may contain ``=``."""
    result: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise usage_error(f"{what} {item!r}: expected KEY=VALUE")
        result[key] = value
    return result


def parse_annotations(values: list[str] | None) -> dict[str, Any]:
    """``KEY=JSON`` flags (``--annotation``); a value that is not JSON is a string,
    so ``--annotation team=core`` works without quoting (Fn insists on JSON)."""
    result: dict[str, Any] = {}
    for key, raw in parse_pairs(values, "--annotation").items():
        try:
            result[key] = json.loads(raw)
        except ValueError:
            result[key] = raw
    return result


def _check_output(value: str) -> str:
    # Checked while parsing flags, so a typo is a usage error before any request.
    if value.lower() not in ("table", "json", "yaml"):
        raise typer.BadParameter(f"{value!r}: use table, json or yaml")
    return value.lower()


OutputOpt = Annotated[
    str,
    typer.Option(
        "--output", "-o", help="table, json or yaml.", metavar="FORMAT", callback=_check_output
    ),
]
ConfigOpt = Annotated[
    list[str] | None,
    typer.Option("--config", "-c", help="KEY=VALUE, repeatable.", metavar="KEY=VALUE"),
]
AnnotationOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--annotation", help="KEY=JSON value (plain text is a string), repeatable.",
        metavar="KEY=VALUE",
    ),
]  # fmt: skip
