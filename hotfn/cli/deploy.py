"""``hotfn deploy``: bump, build, push (unless ``--local``), then create or update
the fn and its triggers (Fn's ``fn deploy``, design.md §6).

Differences from Fn, on purpose: the first deploy of a function keeps the version
``hotfn init`` wrote (0.0.1) and later ones bump the patch (Fn bumps every time);
func.yaml is only rewritten once the image is built, so a failed build leaves it
as it was; everything is validated (func.yaml, server, app, Docker) before the
first image is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from hotfn.cli import build, engine, funcfile
from hotfn.cli.client import Api, Obj
from hotfn.cli.common import SETTINGS, CliError, note, out, usage_error
from hotfn.cli.funcfile import FuncFile

SKIP_DIRS = {"node_modules", "__pycache__", ".git", ".venv", "venv"}
INVOKE_ANNOTATION = "fnproject.io/fn/invokeEndpoint"
TRIGGER_ANNOTATION = "fnproject.io/trigger/httpEndpoint"


def _appfile(directory: Path) -> dict[str, Any]:
    """Fn's app.yaml (name, config, annotations, syslog_url), if there is one."""
    for name in ("app.yaml", "app.yml", "app.json"):
        path = directory / name
        if path.is_file():
            try:
                data = YAML(typ="safe", pure=True).load(path.read_text())
            except YAMLError as exc:
                raise usage_error(f"{name}: not valid YAML: {str(exc).splitlines()[0]}") from None
            if not isinstance(data, dict):
                raise usage_error(f"{name}: must be a mapping (name, config, annotations)")
            return data
    return {}


def _function_dirs(base: Path) -> list[Path]:
    """Every directory under ``base`` with a func.yaml (``--all``), in a stable order."""
    found = []
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        if any(name in files for name in funcfile.NAMES):
            found.append(Path(root))
    return found


def _check_app(api: Api, name: str, create: bool) -> Obj | None:
    app = api.find_app(name)
    if app is None and not create:
        raise CliError(
            f"app {name!r} does not exist; pass --create-app to create it "
            f"(or `hotfn create app {name}`)"
        )
    return app


def _ensure_app(api: Api, name: str, app: Obj | None, appfile: dict[str, Any]) -> Obj:
    fields = {k: appfile[k] for k in ("config", "annotations", "syslog_url") if appfile.get(k)}
    if app is None:
        note(f"Creating app {name}")
        created: Obj = api.call("POST", "/v2/apps", json={"name": name, **fields})
        return created
    if fields:
        updated: Obj = api.call("PUT", f"/v2/apps/{app['id']}", json=fields)
        return updated
    return app


def _fn_body(ff: FuncFile, image: str) -> dict[str, Any]:
    body: dict[str, Any] = {"image": image}
    for key in ("memory", "timeout", "idle_timeout", "format"):
        value = getattr(ff, key)
        if value is not None:
            body[key] = value
    if ff.config:
        body["config"] = ff.config
    if ff.annotations:
        body["annotations"] = ff.annotations
    return body


def _warn_missing_config(ff: FuncFile, app: Obj, fn: Obj) -> None:
    have = {**app.get("config", {}), **fn.get("config", {})}
    for key, required in ff.expects_config:
        if required and key not in have:
            note(f"warning: {ff.name} expects config {key}: set it with "
                 f"`hotfn config fn set {app['name']} {ff.name} {key} VALUE`")  # fmt: skip


def deploy_one(
    api: Api, app: Obj, ff: FuncFile, *, local: bool, no_bump: bool, registry: str | None,
    build_args: list[str] | None, no_cache: bool, prewarm: bool = False,
) -> None:  # fmt: skip
    existing = api.find_fn(app, ff.name)
    if no_bump or (existing is None and ff.version):
        version = ff.version or funcfile.INITIAL_VERSION
    else:
        version = funcfile.next_patch(ff.version)
    image = ff.image(build.registry_for(ff, registry), version)
    note(f"Deploying {ff.name} to app {app['name']} (image {image})")
    build.build_function(ff, image, build_args=build_args, no_cache=no_cache)
    if version != ff.version:
        funcfile.write_version(ff, version)
        note(f"Bumped to version {version}")
    if not local:
        # The digest, not the tag: a redeploy under the same tag is a new reference,
        # so new calls get new containers and calls in flight finish on the old ones.
        image = engine.push(image, verbose=SETTINGS.verbose)
        note(f"Pushed {image}")
    body = _fn_body(ff, image)
    if existing is None:
        fn: Obj = api.call("POST", "/v2/fns", json={"name": ff.name, "app_id": app["id"], **body})
    else:
        fn = api.call("PUT", f"/v2/fns/{existing['id']}", json=body)
    console = out()
    console.print(f"Deployed {ff.name} {version} to app {app['name']}", markup=False)
    console.print(f"  invoke: {fn.get('annotations', {}).get(INVOKE_ANNOTATION, '')}", markup=False)
    for trig in ff.triggers:
        spec = {"type": trig.type, "source": trig.source}
        found = api.find_trigger(app, fn, trig.name)
        if found is None:
            body = {"name": trig.name, "app_id": app["id"], "fn_id": fn["id"], **spec}
            saved: Obj = api.call("POST", "/v2/triggers", json=body)
        else:
            saved = api.call("PUT", f"/v2/triggers/{found['id']}", json=spec)
        url = saved.get("annotations", {}).get(TRIGGER_ANNOTATION, saved.get("source"))
        console.print(f"  trigger {trig.name}: {url}", markup=False)
    _warn_missing_config(ff, app, fn)
    if prewarm:
        warmed: Obj = api.call("POST", f"/v2/fns/{fn['id']}/prewarm")
        if warmed.get("ready"):
            console.print("  prewarmed: a hot container is ready for the first call", markup=False)
        else:
            note(f"note: {ff.name} was not prewarmed (default-format fns start per call)")


def deploy(
    directory: build.DirArg = None,
    app: Annotated[str | None, typer.Option("--app", help="App to deploy to.")] = None,
    create_app: Annotated[
        bool, typer.Option("--create-app", help="Create the app if it does not exist.")
    ] = False,
    local: Annotated[
        bool,
        typer.Option("--local", "--skip-push", help="Use the image in the local engine; no push."),
    ] = False,
    no_bump: Annotated[
        bool, typer.Option("--no-bump", help="Keep func.yaml's version as it is.")
    ] = False,
    all_: Annotated[
        bool, typer.Option("--all", help="Deploy every function under the directory.")
    ] = False,
    registry: build.RegistryOpt = None,
    build_arg: build.BuildArgOpt = None,
    no_cache: build.NoCacheOpt = False,
    prewarm: Annotated[
        bool,
        typer.Option("--prewarm", help="Start a hot container before returning."),
    ] = False,
) -> None:
    """Bump the version, build the image, push it (unless --local), and create or
    update the function and the triggers of its func.yaml.

    Prints the invoke endpoint and the trigger URLs.

    Example: hotfn deploy --app demo --create-app --local
    """
    base = (directory or Path.cwd()).resolve()
    appfile = _appfile(base)
    app_name = app or appfile.get("name")
    if not app_name:
        raise usage_error("which app? pass --app APP (or put `name:` in app.yaml)")
    dirs = _function_dirs(base) if all_ else [base]
    if not dirs:
        raise usage_error(f"no func.yaml under {base}")
    functions = [funcfile.load(d) for d in dirs]  # every file valid before any build
    if not local:
        for ff in functions:
            if not build.registry_for(ff, registry):
                raise usage_error(
                    f"{ff.name}: no registry to push to: pass --local to run the image "
                    "from this engine, or --registry HOST/OWNER (or `registry:` in "
                    "func.yaml, or HOTFN_REGISTRY)"
                )
    with Api() as api:
        found = _check_app(api, str(app_name), create_app)
        engine.check_engine()
        target = _ensure_app(api, str(app_name), found, appfile)
        for ff in functions:
            deploy_one(
                api, target, ff, local=local, no_bump=no_bump, registry=registry,
                build_args=build_arg, no_cache=no_cache, prewarm=prewarm,
            )  # fmt: skip
