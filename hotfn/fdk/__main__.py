"""``python3 -m hotfn.fdk TARGET`` serves a handler without a ``__main__`` block.

TARGET is ``module:function`` (imported from the current directory or
``sys.path``), ``path/to/func.py:function``, or Fn's two-argument form
``path/to/func.py function`` (what Fn's ``/python/bin/fdk`` takes).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

from hotfn.fdk.runtime import handle

USAGE = (
    "usage: python3 -m hotfn.fdk MODULE:HANDLER | FILE.py:HANDLER | FILE.py HANDLER\n"
    "  serves HANDLER(ctx, data) on the socket named by FN_LISTENER\n"
    "       python3 -m hotfn.fdk --generic [DIR]\n"
    "  waits in DIR (/tmp/iofs) for the agent to say which handler to serve"
)


def _load_file(path: str) -> ModuleType:
    path = os.path.abspath(path)
    # Let the function import modules that sit next to it, as `python3 func.py` would.
    sys.path.insert(0, os.path.dirname(path))
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_handler(target: str, name: str | None = None) -> object:
    """The object ``target`` names (see the module docstring)."""
    if name is None:
        target, sep, name = target.rpartition(":")
        if not sep or not target or not name:
            raise ValueError(f"expected MODULE:HANDLER, got {target + sep + name!r}")
    if target.endswith(".py") or os.sep in target:
        module = _load_file(target)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(target)
    obj: object = module
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python3 -m hotfn.fdk`` and of the images' ``fdk`` script."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--generic":
        # A warm generic container: the agent tells it later which function to be.
        from hotfn.fdk import generic

        generic.main(*args[1:2])
        return
    if len(args) not in (1, 2) or args[0] in ("-h", "--help"):
        sys.exit(USAGE)
    try:
        handler = load_handler(*args)
    except (ImportError, AttributeError, ValueError, OSError) as exc:
        sys.exit(f"hotfn.fdk: cannot load the handler {' '.join(args)!r}: {exc}\n{USAGE}")
    handle(handler)  # type: ignore[arg-type]  # check_handler() vets it at start


if __name__ == "__main__":
    main()
