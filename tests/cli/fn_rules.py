"""What Fn's CLI (fnproject/cli, schema 20180708) rejects in a function directory,
restated from its source so tests can check hotfn's output against it:

- ``common.GetFuncYamlVersion`` type-asserts ``schema_version`` to an int, and
  ``deploy`` refuses anything but 20180708 ("routes are no longer supported");
- ``commands/init.go ValidateFuncName``: no ':' and lowercase;
- ``common/funcfile.go FuncFileV20180708``: the fields and their Go types (yaml.v2
  fails on a type mismatch, e.g. a string for ``memory``);
- ``common/bump.go``: ``version`` must parse as semver (coreos/go-semver);
- ``common.dockerBuildV20180708``: a Dockerfile wins; ``runtime: docker`` without one
  fails; otherwise a language helper must exist and ``writeTmpDockerfileV20180708``
  needs ``entrypoint`` or ``cmd``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

FN_FIELDS = {
    "schema_version": int, "name": str, "version": str, "runtime": str, "build_image": str,
    "run_image": str, "cmd": str, "entrypoint": str, "content_type": str, "format": str,
    "type": str, "memory": int, "timeout": int, "idle_timeout": int, "config": dict,
    "annotations": dict, "build": list, "expects": dict, "triggers": list,
}  # fmt: skip
FN_LANGS = ("python", "python3.8", "python3.9", "python3.11", "python3.12", "node", "java",
            "go", "ruby", "dotnet", "kotlin")  # fmt: skip
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def fn_cli_rejections(directory: Path) -> list[str]:
    """Why Fn's CLI would refuse to build or deploy ``directory`` (empty: it would not)."""
    data: Any = YAML(typ="safe", pure=True).load((directory / "func.yaml").read_text())
    problems = []
    if not isinstance(data, dict):
        return ["func.yaml is not a mapping"]
    for key, value in data.items():
        kind = FN_FIELDS.get(key)
        if kind is None:
            problems.append(f"unknown field {key}")
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(f"{key} is not a {kind.__name__}")
    if data.get("schema_version") != 20180708:
        problems.append("schema_version is not 20180708")
    name = str(data.get("name", ""))
    if ":" in name or name.lower() != name:
        problems.append("name has a colon or capitals")
    if "version" in data and not SEMVER.match(str(data["version"])):
        problems.append("version is not semver")
    for trig in data.get("triggers") or []:
        if not all(isinstance(trig.get(k), str) for k in ("name", "type", "source")):
            problems.append("trigger without name/type/source")
    if not (directory / "Dockerfile").is_file():
        runtime = data.get("runtime")
        if runtime == "docker":
            problems.append("runtime docker without a Dockerfile")
        elif runtime not in FN_LANGS:
            problems.append(f"no language helper for runtime {runtime!r}")
        elif not data.get("entrypoint") and not data.get("cmd"):
            problems.append("neither entrypoint nor cmd")
    return problems
