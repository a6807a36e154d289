"""``hotfn init``: a working function directory (handler, func.yaml, Dockerfile).

What it writes is what Fn's CLI accepts too: schema 20180708, a lowercase name,
``runtime`` python/node with ``entrypoint``/``cmd`` (hot by default on each
runtime's FDK: hotfn's Python FDK, Fn's Node FDK; ``--hotwrap`` runs the program per
call instead), or ``docker`` with a Dockerfile;
hotfn's ``format`` is a field Fn's CLI reads as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hotfn.cli import templates
from hotfn.cli.common import CliError, note, out, usage_error
from hotfn.cli.funcfile import NAME_RE, NAMES

RUNTIMES = ("python", "node", "docker")


def _detect_runtime(directory: Path) -> str:
    """Fn's guess from the files present; python when there is nothing to go by."""
    if (directory / "Dockerfile").is_file():
        return "docker"
    if (directory / "func.js").is_file():
        return "node"
    return "python"


def _target_dir(directory: Path | None, force: bool) -> Path:
    if directory is None:
        return Path.cwd()
    if directory.exists():
        if not directory.is_dir():
            raise usage_error(f"{directory} exists and is not a directory")
        if any(directory.iterdir()) and not force:
            raise usage_error(f"directory {directory} already exists and is not empty; "
                              "pick another or pass --force")  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def init(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Directory to create (default: the current one).", show_default=False),
    ] = None,
    runtime: Annotated[
        str | None,
        typer.Option(help="python, node or docker (default: guessed from the files, else python)."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="http-stream (hot: one container serves many calls) "
            "or default (a new container per call).",
        ),
    ] = "http-stream",
    hotwrap: Annotated[
        bool,
        typer.Option(
            "--hotwrap",
            help="Run the program per call with hotwrap instead of the FDK (Python, "
            "node; docker uses it for http-stream anyway).",
        ),
    ] = False,
    name: Annotated[
        str | None, typer.Option(help="Function name (default: the directory's, lowercased).")
    ] = None,
    trigger: Annotated[
        str | None,
        typer.Option(help="Add a trigger of this type (http) at /NAME, as Fn's --trigger."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing func.yaml.")] = False,
) -> None:
    """Create a function: a handler, func.yaml and (runtime docker) a Dockerfile.

    Example: hotfn init --runtime python hello && cd hello && hotfn deploy --app demo --local
    """
    if runtime is not None and runtime not in RUNTIMES:
        raise usage_error(f"--runtime {runtime!r}: use python, node or docker")
    if fmt not in ("http-stream", "default"):
        raise usage_error(f"--format {fmt!r}: use http-stream or default")
    if trigger is not None and trigger != "http":
        raise usage_error(f"--trigger {trigger!r}: the only trigger type is http")
    target = _target_dir(directory, force)
    fn_name = (name or target.resolve().name).lower()
    if not NAME_RE.match(fn_name):
        raise usage_error(
            f"function name {fn_name!r} cannot name an image: use lowercase letters, digits, "
            "'_' and '-' (pass --name)"
        )
    existing = next((n for n in NAMES if (target / n).exists()), None)
    if existing and not force:
        raise usage_error(f"{target / existing} already exists; pass --force to overwrite it")
    chosen = runtime or _detect_runtime(target)
    template = templates.choose(chosen, fmt, hotwrap, fn_name)
    written = []
    for filename, content in template.files.items():
        path = target / filename
        if path.exists() and not force:
            note(f"note: keeping your {filename}")
            continue
        path.write_text(content)
        written.append(filename)
    yaml_text = templates.func_yaml(fn_name, chosen, fmt, template.fields, trigger is not None)
    try:
        (target / "func.yaml").write_text(yaml_text)
    except OSError as exc:
        raise CliError(f"cannot write func.yaml in {target}: {exc}") from None
    written.insert(0, "func.yaml")
    where = "." if directory is None else str(directory)
    out().print(
        f"Created function {fn_name} ({chosen}, {fmt}) in {where}: {', '.join(written)}",
        markup=False,
    )
    cd = "" if directory is None else f"cd {directory} && "
    note(f"Next: {cd}hotfn deploy --app APP --create-app --local")
