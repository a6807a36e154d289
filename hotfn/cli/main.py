"""The ``hotfn`` command. Each command group lives in its own module; this one holds
the entry point, the global options, and the commands that need no API server
(``start``, ``version``, ``hotwrap-snippet``).

``main`` runs the Typer app outside click's standalone mode so that every failure
ends the same way: one ``error: ...`` line on stderr and exit 2 (usage, func.yaml)
or 1 (server, Docker, failed calls), never a traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from hotfn import __version__
from hotfn.cli import apps as _apps  # noqa: F401  (registers its commands in verbs)
from hotfn.cli import fns as _fns  # noqa: F401
from hotfn.cli import triggers as _triggers  # noqa: F401
from hotfn.cli import verbs
from hotfn.cli.build import build
from hotfn.cli.calls_cmd import calls, logs, retry
from hotfn.cli.common import EXIT_FAILED, EXIT_USAGE, SETTINGS, CliError, api_url_from_env
from hotfn.cli.config_cmd import config
from hotfn.cli.deploy import deploy
from hotfn.cli.init import init
from hotfn.cli.invoke import invoke

# Typer ships its own copy of click (typer._click) in recent versions; its exception
# classes are the ones raised here. Older Typer used click itself.
_cx: Any
try:
    _cx = importlib.import_module("typer._click.exceptions")
except ImportError:  # pragma: no cover - older Typer
    _cx = importlib.import_module("click.exceptions")

app = typer.Typer(
    name="hotfn",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
DEV, MANAGE, SERVER = "Develop and deploy", "Manage apps, functions, triggers", "Server and tools"


@app.callback()
def _options(
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url", metavar="URL",
            help="The hotfn (or Fn) server; else HOTFN_API_URL, FN_API_URL, "
            "http://localhost:8080.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", metavar="TOKEN", envvar="HOTFN_TOKEN", show_envvar=True,
            help="The server's API token, if it was started with one.",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the full docker build output.")
    ] = False,
) -> None:  # fmt: skip
    """hotfn: Fn-compatible functions that stay hot.

    Example: hotfn init hello && cd hello && hotfn deploy --app demo --create-app --local
    """
    SETTINGS.api_url = api_url or api_url_from_env()
    SETTINGS.token = token or None
    SETTINGS.verbose = verbose


app.command(rich_help_panel=DEV)(init)
app.command(rich_help_panel=DEV)(build)
app.command(rich_help_panel=DEV)(deploy)
app.command(rich_help_panel=DEV)(invoke)
app.command(rich_help_panel=DEV)(logs)
app.command(rich_help_panel=DEV)(calls)
app.command(rich_help_panel=DEV)(retry)
for _name, _group in verbs.GROUPS.items():
    app.add_typer(_group, name=_name, rich_help_panel=MANAGE)
app.add_typer(config, name="config", rich_help_panel=MANAGE)


@app.command(rich_help_panel=SERVER)
def start(
    host: Annotated[str, typer.Option(help="Address to listen on.", envvar="HOTFN_HOST")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.", envvar="HOTFN_PORT")] = 8080,
    uds: Annotated[
        Path | None,
        typer.Option(
            help="Listen on this unix socket instead of --host/--port (nginx on this machine).",
            envvar="HOTFN_UNIX_SOCKET",
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="Database URL: postgresql://USER:PW@HOST/DB; default SQLite in the data dir.",
            envvar="HOTFN_DB_URL",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the SQLite file and iofs dirs live.", envvar="HOTFN_DATA_DIR"),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(help="Base of the endpoint URLs shown in objects.", envvar="HOTFN_PUBLIC_URL"),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="API token: /v2 and /metrics then need 'Authorization: Bearer TOKEN'.",
            envvar="HOTFN_TOKEN",
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(help="Allow a non-loopback --host without a token.", envvar="HOTFN_INSECURE"),
    ] = False,
) -> None:
    """Run the server in the foreground (Ctrl-C stops it cleanly).

    Example: hotfn start --port 8080 --db postgresql://hotfn:pw@127.0.0.1/hotfn
    """
    from hotfn.config import Settings
    from hotfn.errors import HotfnError
    from hotfn.server import serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env(
            host=host,
            port=port,
            uds=uds,
            db_url=db,
            data_dir=data_dir,
            public_url=public_url,
            token=token,
            insecure=insecure or None,
        )
    except HotfnError as exc:  # a bad HOTFN_* value: one line, no traceback
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if db and not db.startswith(("postgresql://", "postgres://", "sqlite://")):
        typer.echo(
            f"error: --db {db!r}: use postgresql://USER:PW@HOST/DB or sqlite:///PATH", err=True
        )
        raise typer.Exit(2)
    try:
        serve(settings)
    except HotfnError as exc:  # bad settings: one line, no traceback
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


@app.command(rich_help_panel=SERVER)
def version() -> None:
    """Print hotfn's version.

    Example: hotfn version
    """
    typer.echo(__version__)


@app.command("hotwrap-snippet", rich_help_panel=SERVER)
def hotwrap_snippet_cmd(
    image: Annotated[str, typer.Option(help="The hotwrap image to copy from.")] = (
        "hotfn/hotwrap:latest"
    ),
    command: Annotated[str, typer.Option(help="The program to run per call (CMD).")] = (
        "node ./func.js"
    ),
) -> None:
    """Print the Dockerfile lines that make any image's command a hot function.

    Example: hotfn hotwrap-snippet --command "python3 func.py" >> Dockerfile
    """
    from hotfn.cli.templates import hotwrap_snippet

    typer.echo(hotwrap_snippet(image, command), nl=False)


def _usage_line(exc: Any) -> str:
    message = "; ".join(ln.strip() for ln in exc.format_message().splitlines() if ln.strip())
    where = exc.ctx.command_path if exc.ctx is not None else "hotfn"
    return f"{message} (see `{where} --help`)"


def run(args: list[str] | None = None) -> int:
    """Run the CLI; the exit code. Errors are printed as one line on stderr."""
    try:
        code = app(args=args, prog_name="hotfn", standalone_mode=False)
    except _cx.NoArgsIsHelpError as exc:
        # A group without a subcommand: its help, as `hotfn` alone shows (exit 0).
        typer.echo(exc.format_message())
        return 0
    except _cx.UsageError as exc:
        typer.echo(f"error: {_usage_line(exc)}", err=True)
        return EXIT_USAGE
    except _cx.ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        return int(exc.exit_code)
    except CliError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        return exc.code
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        return EXIT_FAILED
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if os.environ.get("HOTFN_DEBUG"):
            traceback.print_exc()
        typer.echo(
            f"error: internal error: {type(exc).__name__}: {exc} "
            "(HOTFN_DEBUG=1 shows the traceback; please report it)",
            err=True,
        )
        return EXIT_FAILED
    return code if isinstance(code, int) else 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
