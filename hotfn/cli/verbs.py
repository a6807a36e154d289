"""The verb-first command groups Fn users know: ``hotfn create app NAME``,
``hotfn list fns APP``, ``hotfn inspect trigger APP FN NAME``...

Each object module (apps, fns, triggers) adds its commands to these groups with
:func:`register`, under Fn's names and aliases (``fn``/``fns``/``function``/``f``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import typer

create = typer.Typer(help="Create an app, function or trigger.", no_args_is_help=True)
list_ = typer.Typer(help="List apps, functions or triggers.", no_args_is_help=True)
inspect = typer.Typer(help="Show an app, function or trigger (JSON).", no_args_is_help=True)
update = typer.Typer(help="Change an app, function or trigger.", no_args_is_help=True)
delete = typer.Typer(help="Delete an app, function or trigger.", no_args_is_help=True)

GROUPS = {"create": create, "list": list_, "inspect": inspect, "update": update, "delete": delete}


def register(group: typer.Typer, names: Sequence[str], func: Callable[..., Any]) -> None:
    """Add ``func`` as ``names[0]``; the other names are hidden aliases."""
    group.command(names[0])(func)
    for alias in names[1:]:
        group.command(alias, hidden=True)(func)


def install(app: typer.Typer) -> None:
    for name, group in GROUPS.items():
        app.add_typer(group, name=name)
