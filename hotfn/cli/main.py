"""The ``hotfn`` command. Each command group lives in its own module; this one holds
the entry point and the commands that need no API server (``start``, ``version``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from hotfn import __version__

app = typer.Typer(
    name="hotfn",
    help="hotfn: Fn-compatible functions that stay hot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def start(
    host: Annotated[str, typer.Option(help="Address to listen on.", envvar="HOTFN_HOST")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.", envvar="HOTFN_PORT")] = 8080,
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
) -> None:
    """Run the server in the foreground (Ctrl-C stops it cleanly).

    Example: hotfn start --port 8080 --db postgresql://hotfn:pw@127.0.0.1/hotfn
    """
    from hotfn.config import Settings
    from hotfn.server import serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env(
        host=host, port=port, db_url=db, data_dir=data_dir, public_url=public_url
    )
    if db and not db.startswith(("postgresql://", "postgres://", "sqlite://")):
        typer.echo(
            f"error: --db {db!r}: use postgresql://USER:PW@HOST/DB or sqlite:///PATH", err=True
        )
        raise typer.Exit(2)
    serve(settings)


@app.command()
def version() -> None:
    """Print hotfn's version.

    Example: hotfn version
    """
    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C outside the server
        sys.exit(130)


if __name__ == "__main__":
    main()
