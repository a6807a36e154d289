"""``hotfn config app|fn get|set|unset|list``: the configuration that becomes the
function containers' environment (app keys, then fn keys on top)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hotfn.cli.apps import AppArg
from hotfn.cli.client import Api, Obj
from hotfn.cli.common import CliError, OutputOpt, note, out
from hotfn.cli.fns import FnArg
from hotfn.cli.output import show_list, show_object

config = typer.Typer(help="Get and set app and function configuration.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration of an app (all its functions see it).",
                         no_args_is_help=True)  # fmt: skip
config_fn = typer.Typer(help="Configuration of one function (wins over the app's).",
                        no_args_is_help=True)  # fmt: skip
config.add_typer(config_app, name="app")
config.add_typer(config_fn, name="fn")
config.add_typer(config_fn, name="function", hidden=True)

KeyArg = Annotated[str, typer.Argument(help="Configuration key.")]
ValueArg = Annotated[str, typer.Argument(help="Value.")]


def _get(obj: Obj, key: str, what: str) -> None:
    value = obj.get("config", {}).get(key)
    if value is None:
        raise CliError(f"{what} has no config key {key!r}")
    out().print(value, markup=False)


def _list(obj: Obj, output: str, what: str) -> None:
    cfg: dict[str, Any] = obj.get("config", {})
    if not cfg and output == "table":
        note(f"No config found for {what}")
        return
    if output == "table":
        rows = [{"key": k, "value": v} for k, v in sorted(cfg.items())]
        show_list(rows, [("KEY", "key"), ("VALUE", "value")], output)
    else:
        show_object(cfg, output)


@config_app.command("set")
def app_set(app: AppArg, key: KeyArg, value: ValueArg) -> None:
    """Set a key. Example: hotfn config app set demo LOG_LEVEL debug"""
    with Api() as api:
        target = api.app(app)
        api.call("PUT", f"/v2/apps/{target['id']}", json={"config": {key: value}})
    out().print(f"{app} updated {key} with {value}", markup=False)


@config_app.command("get")
def app_get(app: AppArg, key: KeyArg) -> None:
    """Print a key's value. Example: hotfn config app get demo LOG_LEVEL"""
    with Api() as api:
        _get(api.app(app), key, f"app {app}")


@config_app.command("unset")
def app_unset(app: AppArg, key: KeyArg) -> None:
    """Remove a key. Example: hotfn config app unset demo LOG_LEVEL"""
    with Api() as api:
        target = api.app(app)
        if key not in target.get("config", {}):
            note(f"Config key {key!r} does not exist. Nothing to do.")
            return
        api.call("PUT", f"/v2/apps/{target['id']}", json={"config": {key: ""}})
    out().print(f"Removed key {key!r} from app {app!r}", markup=False)


@config_app.command("list")
def app_list(app: AppArg, output: OutputOpt = "table") -> None:
    """List keys and values. Example: hotfn config app list demo"""
    with Api() as api:
        _list(api.app(app), output, f"app {app}")


@config_fn.command("set")
def fn_set(app: AppArg, fn: FnArg, key: KeyArg, value: ValueArg) -> None:
    """Set a key. Example: hotfn config fn set demo hello GREETING hi"""
    with Api() as api:
        _, target = api.fn(app, fn)
        api.call("PUT", f"/v2/fns/{target['id']}", json={"config": {key: value}})
    out().print(f"{app} {fn} updated {key} with {value}", markup=False)


@config_fn.command("get")
def fn_get(app: AppArg, fn: FnArg, key: KeyArg) -> None:
    """Print a key's value. Example: hotfn config fn get demo hello GREETING"""
    with Api() as api:
        _get(api.fn(app, fn)[1], key, f"function {fn}")


@config_fn.command("unset")
def fn_unset(app: AppArg, fn: FnArg, key: KeyArg) -> None:
    """Remove a key. Example: hotfn config fn unset demo hello GREETING"""
    with Api() as api:
        _, target = api.fn(app, fn)
        if key not in target.get("config", {}):
            note(f"Config key {key!r} does not exist. Nothing to do.")
            return
        api.call("PUT", f"/v2/fns/{target['id']}", json={"config": {key: ""}})
    out().print(f"Removed key {key!r} from function {fn!r}", markup=False)


@config_fn.command("list")
def fn_list(app: AppArg, fn: FnArg, output: OutputOpt = "table") -> None:
    """List keys and values. Example: hotfn config fn list demo hello"""
    with Api() as api:
        _list(api.fn(app, fn)[1], output, f"function {fn}")
