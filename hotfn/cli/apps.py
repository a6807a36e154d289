"""Apps: ``create|list|inspect|update|delete app``."""

from __future__ import annotations

from typing import Annotated

import typer

from hotfn.cli import verbs
from hotfn.cli.client import Api
from hotfn.cli.common import (
    AnnotationOpt,
    ConfigOpt,
    OutputOpt,
    out,
    parse_annotations,
    parse_pairs,
    usage_error,
)
from hotfn.cli.output import dig, show_list, show_object

APP_COLUMNS = [("NAME", "name"), ("ID", "id")]
NAMES = ("app", "apps", "a")

AppArg = Annotated[str, typer.Argument(help="App name.")]
SyslogOpt = Annotated[
    str | None, typer.Option("--syslog-url", help="Where the app's function logs go.")
]


def show_property(obj: dict[str, object], prop: str | None, output: str, what: str) -> None:
    """The whole object, or one (dotted) property of it, as Fn's ``inspect`` does."""
    if prop is None:
        show_object(obj, output)
        return
    value = dig(obj, prop)
    if value is None:
        raise usage_error(f"{what} has no property {prop!r}")
    show_object(value, output)


def create_app(
    name: AppArg,
    config: ConfigOpt = None,
    annotation: AnnotationOpt = None,
    syslog_url: SyslogOpt = None,
) -> None:
    """Create an app.

    Example: hotfn create app demo --config DB_URL=postgres://db/demo
    """
    body: dict[str, object] = {"name": name}
    if config:
        body["config"] = parse_pairs(config, "--config")
    if annotation:
        body["annotations"] = parse_annotations(annotation)
    if syslog_url:
        body["syslog_url"] = syslog_url
    with Api() as api:
        app = api.call("POST", "/v2/apps", json=body)
    out().print(f"Successfully created app: {app['name']}", markup=False)


def list_apps(output: OutputOpt = "table") -> None:
    """List apps.

    Example: hotfn list apps -o json
    """
    with Api() as api:
        rows = list(api.items("/v2/apps"))
    show_list(rows, APP_COLUMNS, output)


def inspect_app(
    name: AppArg,
    prop: Annotated[str | None, typer.Argument(help="One property, e.g. config.")] = None,
    output: OutputOpt = "json",
) -> None:
    """Show an app (or one of its properties).

    Example: hotfn inspect app demo config
    """
    with Api() as api:
        app = api.app(name)
    show_property(app, prop, output, f"app {name}")


def update_app(
    name: AppArg,
    config: ConfigOpt = None,
    annotation: AnnotationOpt = None,
    syslog_url: SyslogOpt = None,
) -> None:
    """Change an app: config and annotations merge (an empty value removes a key).

    Example: hotfn update app demo --config LOG_LEVEL=debug
    """
    body: dict[str, object] = {}
    if config:
        body["config"] = parse_pairs(config, "--config")
    if annotation:
        body["annotations"] = parse_annotations(annotation)
    if syslog_url is not None:
        body["syslog_url"] = syslog_url
    if not body:
        raise usage_error("nothing to update: pass --config, --annotation or --syslog-url")
    with Api() as api:
        app = api.app(name)
        api.call("PUT", f"/v2/apps/{app['id']}", json=body)
    out().print(f"app {name} updated", markup=False)


def delete_app(name: AppArg) -> None:
    """Delete an app with its functions and triggers.

    Example: hotfn delete app demo
    """
    with Api() as api:
        app = api.app(name)
        api.call("DELETE", f"/v2/apps/{app['id']}")
    out().print(f"App {name} deleted", markup=False)


verbs.register(verbs.create, NAMES, create_app)
verbs.register(verbs.list_, ("apps", "app", "a"), list_apps)
verbs.register(verbs.inspect, NAMES, inspect_app)
verbs.register(verbs.update, NAMES, update_app)
verbs.register(verbs.delete, NAMES, delete_app)
