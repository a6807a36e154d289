"""Functions: ``create|list|inspect|update|delete fn``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hotfn.cli import verbs
from hotfn.cli.apps import AppArg, show_property
from hotfn.cli.client import Api
from hotfn.cli.common import (
    AnnotationOpt,
    CliError,
    ConfigOpt,
    OutputOpt,
    out,
    parse_annotations,
    parse_pairs,
    usage_error,
)
from hotfn.cli.output import show_list

FN_COLUMNS = [("NAME", "name"), ("IMAGE", "image"), ("FORMAT", "format"), ("ID", "id")]
NAMES = ("fn", "function", "f")
LIST_NAMES = ("fns", "functions", "fn", "function", "f")
INVOKE_ANNOTATION = "fnproject.io/fn/invokeEndpoint"

FnArg = Annotated[str, typer.Argument(help="Function name.")]
MemoryOpt = Annotated[int | None, typer.Option("--memory", "-m", help="Memory in MB (1-8192).")]
TimeoutOpt = Annotated[int | None, typer.Option(help="Call timeout in seconds (1-300).")]
IdleOpt = Annotated[
    int | None, typer.Option("--idle-timeout", help="Seconds a hot container waits idle.")
]
FormatOpt = Annotated[
    str | None, typer.Option("--format", help="http-stream (hot) or default (cold).")
]


def fn_fields(
    memory: int | None,
    timeout: int | None,
    idle_timeout: int | None,
    fmt: str | None,
    config: list[str] | None,
    annotation: list[str] | None,
) -> dict[str, Any]:
    """The API body for the flags that were given (the server checks the ranges)."""
    if fmt is not None and fmt not in ("http-stream", "default"):
        raise usage_error(f"--format {fmt!r}: use http-stream or default")
    body: dict[str, Any] = {}
    for key, value in (("memory", memory), ("timeout", timeout),
                       ("idle_timeout", idle_timeout), ("format", fmt)):  # fmt: skip
        if value is not None:
            body[key] = value
    if config:
        body["config"] = parse_pairs(config, "--config")
    if annotation:
        body["annotations"] = parse_annotations(annotation)
    return body


def create_fn(
    app: AppArg,
    name: FnArg,
    image: Annotated[str, typer.Argument(help="Image, e.g. hello:0.0.1.")],
    memory: MemoryOpt = None,
    timeout: TimeoutOpt = None,
    idle_timeout: IdleOpt = None,
    fmt: FormatOpt = None,
    config: ConfigOpt = None,
    annotation: AnnotationOpt = None,
) -> None:
    """Create a function from an image that is already built.

    Example: hotfn create fn demo hello hello:0.0.1 --memory 256
    """
    body = fn_fields(memory, timeout, idle_timeout, fmt, config, annotation)
    with Api() as api:
        target = api.app(app)
        fn = api.call("POST", "/v2/fns", json={"name": name, "app_id": target["id"],
                                                "image": image, **body})  # fmt: skip
    out().print(f"Successfully created function: {fn['name']} with {fn['image']}", markup=False)


def list_fns(app: AppArg, output: OutputOpt = "table") -> None:
    """List the functions of an app.

    Example: hotfn list fns demo
    """
    with Api() as api:
        target = api.app(app)
        rows = list(api.items("/v2/fns", app_id=target["id"]))
    show_list(rows, FN_COLUMNS, output)


def inspect_fn(
    app: AppArg,
    name: FnArg,
    prop: Annotated[str | None, typer.Argument(help="One property, e.g. image.")] = None,
    endpoint: Annotated[bool, typer.Option("--endpoint", help="Only the invoke URL.")] = False,
    output: OutputOpt = "json",
) -> None:
    """Show a function (or one of its properties, or its invoke endpoint).

    Example: hotfn inspect fn demo hello --endpoint
    """
    with Api() as api:
        _, fn = api.fn(app, name)
    if endpoint:
        url = fn.get("annotations", {}).get(INVOKE_ANNOTATION)
        if not isinstance(url, str):
            raise CliError(f"function {name} has no invoke endpoint annotation")
        out().print(url, markup=False)
        return
    show_property(fn, prop, output, f"function {name}")


def update_fn(
    app: AppArg,
    name: FnArg,
    image: Annotated[str | None, typer.Option(help="New image.")] = None,
    memory: MemoryOpt = None,
    timeout: TimeoutOpt = None,
    idle_timeout: IdleOpt = None,
    fmt: FormatOpt = None,
    config: ConfigOpt = None,
    annotation: AnnotationOpt = None,
) -> None:
    """Change a function; config and annotations merge (an empty value removes a key).

    Example: hotfn update fn demo hello --image hello:0.0.3 --timeout 60
    """
    body = fn_fields(memory, timeout, idle_timeout, fmt, config, annotation)
    if image:
        body["image"] = image
    if not body:
        raise usage_error("nothing to update: pass --image, --memory, --timeout, --config, ...")
    with Api() as api:
        _, fn = api.fn(app, name)
        api.call("PUT", f"/v2/fns/{fn['id']}", json=body)
    out().print(f"{app} {name} updated", markup=False)


def delete_fn(app: AppArg, name: FnArg) -> None:
    """Delete a function and its triggers.

    Example: hotfn delete fn demo hello
    """
    with Api() as api:
        _, fn = api.fn(app, name)
        api.call("DELETE", f"/v2/fns/{fn['id']}")
    out().print(f"Function {name} deleted", markup=False)


verbs.register(verbs.create, NAMES, create_fn)
verbs.register(verbs.list_, LIST_NAMES, list_fns)
verbs.register(verbs.inspect, NAMES, inspect_fn)
verbs.register(verbs.update, NAMES, update_fn)
verbs.register(verbs.delete, NAMES, delete_fn)
