"""The Dockerfile ``hotfn build`` generates for a language runtime (no engine: the
base images are taken as present)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotfn.cli import build, engine, funcfile

FN_NODE = """\
schema_version: 20180708
name: nodefn
version: 0.0.1
runtime: node
build_image: fnproject/node:18-dev
run_image: fnproject/node:18
"""


@pytest.fixture
def fn_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    present = {build.NODE_IMAGE, build.PYTHON_IMAGE}
    monkeypatch.setattr(engine, "image_exists", lambda image: image in present)
    (tmp_path / "func.js").write_text("require('@fnproject/fdk').handle((x) => x)\n")
    return tmp_path


def dockerfile(fn_dir: Path, funcyaml: str, deps: dict[str, str] | None = None) -> str:
    (fn_dir / "func.yaml").write_text(funcyaml)
    if deps is not None:
        (fn_dir / "package.json").write_text(json.dumps({"dependencies": deps}))
    return build.generated_dockerfile(funcfile.load(fn_dir))


def test_fn_node_funcfile_builds_on_hotfn_node_without_npm(fn_dir: Path) -> None:
    # Fn's CLI writes no entrypoint for node and a package.json that needs the FDK:
    # the image has it, so nothing is installed (image builds have no registry).
    text = dockerfile(fn_dir, FN_NODE, {"@fnproject/fdk": ">=0.0.76"})
    assert text.splitlines()[1:] == [
        "FROM hotfn/node:latest",
        "WORKDIR /function",
        "COPY . /function/",
        'ENTRYPOINT ["node", "func.js"]',
    ]


def test_other_node_dependencies_are_installed_in_a_build_stage(fn_dir: Path) -> None:
    text = dockerfile(fn_dir, FN_NODE + "entrypoint: node func.js\n", {"left-pad": "1.3.0"})
    assert "RUN npm install --omit=dev" in text
    assert "COPY --from=build-stage /function/node_modules /function/node_modules" in text


def test_python_without_entrypoint_runs_fns_fdk_path(fn_dir: Path) -> None:
    text = dockerfile(fn_dir, FN_NODE.replace("node", "python").replace(":18", ":3.11"))
    assert text.rstrip().endswith('ENTRYPOINT ["/python/bin/fdk", "/function/func.py", "handler"]')
