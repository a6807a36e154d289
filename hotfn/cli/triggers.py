"""HTTP triggers: ``create|list|inspect|update|delete trigger``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hotfn.cli import verbs
from hotfn.cli.apps import AppArg, show_property
from hotfn.cli.client import Api
from hotfn.cli.common import AnnotationOpt, CliError, OutputOpt, out, parse_annotations, usage_error
from hotfn.cli.fns import FnArg
from hotfn.cli.output import show_list

TRIGGER_COLUMNS = [
    ("NAME", "name"), ("TYPE", "type"), ("SOURCE", "source"),
    ("ENDPOINT", "annotations.fnproject.io/trigger/httpEndpoint"), ("ID", "id"),
]  # fmt: skip
NAMES = ("trigger", "trig", "tr", "t")
LIST_NAMES = ("triggers", "trigger", "trig", "tr", "t")
ENDPOINT_ANNOTATION = "fnproject.io/trigger/httpEndpoint"

TriggerArg = Annotated[str, typer.Argument(help="Trigger name.")]


def _source(source: str) -> str:
    if not source.startswith("/"):
        raise usage_error(f"--source {source!r}: must start with '/' (e.g. /hello)")
    return source


def create_trigger(
    app: AppArg,
    fn: FnArg,
    name: TriggerArg,
    source: Annotated[
        str | None, typer.Option(help="URL path under /t/APP (default /NAME).")
    ] = None,
    type_: Annotated[str, typer.Option("--type", help="Trigger type: http.")] = "http",
    annotation: AnnotationOpt = None,
) -> None:
    """Create an HTTP trigger: the function answers at /t/APP/SOURCE.

    Example: hotfn create trigger demo hello hello --source /hello
    """
    if type_ != "http":
        raise usage_error(f"--type {type_!r}: the only trigger type is http")
    body: dict[str, Any] = {"name": name, "type": type_, "source": _source(source or f"/{name}")}
    if annotation:
        body["annotations"] = parse_annotations(annotation)
    with Api() as api:
        target_app, target_fn = api.fn(app, fn)
        body.update(app_id=target_app["id"], fn_id=target_fn["id"])
        trig = api.call("POST", "/v2/triggers", json=body)
    url = trig.get("annotations", {}).get(ENDPOINT_ANNOTATION, trig["source"])
    out().print(f"Trigger {name} created: {url}", markup=False)


def list_triggers(
    app: AppArg,
    fn: Annotated[str | None, typer.Argument(help="Only this function's.")] = None,
    output: OutputOpt = "table",
) -> None:
    """List the triggers of an app (or of one function).

    Example: hotfn list triggers demo hello
    """
    with Api() as api:
        if fn is None:
            target = api.app(app)
            rows = list(api.items("/v2/triggers", app_id=target["id"]))
        else:
            target, target_fn = api.fn(app, fn)
            rows = list(api.items("/v2/triggers", app_id=target["id"], fn_id=target_fn["id"]))
    show_list(rows, TRIGGER_COLUMNS, output)


def inspect_trigger(
    app: AppArg,
    fn: FnArg,
    name: TriggerArg,
    prop: Annotated[str | None, typer.Argument(help="One property, e.g. source.")] = None,
    endpoint: Annotated[bool, typer.Option("--endpoint", help="Only the trigger's URL.")] = False,
    output: OutputOpt = "json",
) -> None:
    """Show a trigger (or one of its properties, or its URL).

    Example: hotfn inspect trigger demo hello hello --endpoint
    """
    with Api() as api:
        _, _, trig = api.trigger(app, fn, name)
    if endpoint:
        url = trig.get("annotations", {}).get(ENDPOINT_ANNOTATION)
        if not isinstance(url, str):
            raise CliError(f"trigger {name} has no endpoint annotation")
        out().print(url, markup=False)
        return
    show_property(trig, prop, output, f"trigger {name}")


def update_trigger(
    app: AppArg,
    fn: FnArg,
    name: TriggerArg,
    source: Annotated[str | None, typer.Option(help="New URL path.")] = None,
    annotation: AnnotationOpt = None,
) -> None:
    """Change a trigger's source or annotations.

    Example: hotfn update trigger demo hello hello --source /hi
    """
    body: dict[str, Any] = {}
    if source is not None:
        body["source"] = _source(source)
    if annotation:
        body["annotations"] = parse_annotations(annotation)
    if not body:
        raise usage_error("nothing to update: pass --source or --annotation")
    with Api() as api:
        _, _, trig = api.trigger(app, fn, name)
        api.call("PUT", f"/v2/triggers/{trig['id']}", json=body)
    out().print(f"Trigger {name} updated", markup=False)


def delete_trigger(app: AppArg, fn: FnArg, name: TriggerArg) -> None:
    """Delete a trigger.

    Example: hotfn delete trigger demo hello hello
    """
    with Api() as api:
        _, _, trig = api.trigger(app, fn, name)
        api.call("DELETE", f"/v2/triggers/{trig['id']}")
    out().print(f"Trigger {name} deleted", markup=False)


verbs.register(verbs.create, NAMES, create_trigger)
verbs.register(verbs.list_, LIST_NAMES, list_triggers)
verbs.register(verbs.inspect, NAMES, inspect_trigger)
verbs.register(verbs.update, NAMES, update_trigger)
verbs.register(verbs.delete, NAMES, delete_trigger)
