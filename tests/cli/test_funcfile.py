"""func.yaml: Fn's files parse, errors name the field, bumps keep the user's text."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotfn.cli import funcfile
from hotfn.cli.common import CliError
from hotfn.cli.funcfile import FuncFileError

# What Fn's CLI writes for `fn init --runtime python --trigger http pyfn` plus config.
FN_PYTHON = """\
schema_version: 20180708
name: pyfn
version: 0.0.1
runtime: python
build_image: fnproject/python:3.11-dev
run_image: fnproject/python:3.11
entrypoint: /python/bin/fdk /function/func.py handler
memory: 256
triggers:
- name: pyfn-trigger
  type: http
  source: /pyfn-trigger
config:
  GREETING: Howdy
  PORT: 8080
"""

COMMENTED = """\
# my function -- keep this comment
schema_version: 20180708
name: hello   # the name
version: "0.0.9"   # bumped by deploy

# resources
memory: 128
"""


def parse(text: str, tmp_path: Path) -> funcfile.FuncFile:
    path = tmp_path / "func.yaml"
    path.write_text(text)
    return funcfile.load(tmp_path)


def test_fn_cli_python_funcfile_parses(tmp_path: Path) -> None:
    ff = parse(FN_PYTHON, tmp_path)
    assert (ff.name, ff.version, ff.runtime, ff.memory) == ("pyfn", "0.0.1", "python", 256)
    assert ff.entrypoint == "/python/bin/fdk /function/func.py handler"
    assert ff.build_image == "fnproject/python:3.11-dev"
    assert ff.config == {"GREETING": "Howdy", "PORT": "8080"}  # Fn reads config as strings
    assert [(t.name, t.type, t.source) for t in ff.triggers] == [
        ("pyfn-trigger", "http", "/pyfn-trigger")
    ]
    assert ff.format is None and ff.image() == "pyfn:0.0.1"
    assert ff.image("registry.local:5000/team", "0.0.2") == "registry.local:5000/team/pyfn:0.0.2"


# The reference example, the repository's copy, used as it is.
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "reference"


def test_reference_example_funcfile_parses() -> None:
    ff = funcfile.load(EXAMPLE)
    assert (ff.name, ff.runtime, ff.format) == ("hello", "docker", "default")


def test_legacy_hot_formats_mean_http_stream(tmp_path: Path) -> None:
    ff = parse("schema_version: 20180708\nname: a\nformat: json\n", tmp_path)
    assert ff.format == "http-stream"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: a\n", "func.yaml: schema_version: missing"),
        ("schema_version: 1\nname: a\n", "func.yaml: schema_version: must be 20180708"),
        ("schema_version: 20180708\nname: Hello\n", "func.yaml: name: 'Hello' cannot name"),
        ("schema_version: 20180708\nname: a\nmemory: lots\n", "func.yaml: memory: must be a whole"),
        ("schema_version: 20180708\nname: a\ntimeout: 301\n", "func.yaml: timeout: must be"),
        ("schema_version: 20180708\nname: a\nversion: 1.0\n", "func.yaml: version: must be"),
        ("schema_version: 20180708\nname: a\nformat: cold\n", "func.yaml: format: must be"),
        ("schema_version: 20180708\nname: a\nconfig: [1]\n", "func.yaml: config: must be a map"),
        (
            "schema_version: 20180708\nname: a\ntriggers:\n- {name: t, type: http, source: x}\n",
            "func.yaml: triggers[0].source: must be a path starting with '/'",
        ),
        (
            "schema_version: 20180708\nname: a\ntriggers:\n- {name: t, type: cron, source: /x}\n",
            "func.yaml: triggers[0].type: must be http",
        ),
        ("schema_version: 20180708\nname: [a\n", "func.yaml: not valid YAML: line 3"),
        ("- just\n- a list\n", "func.yaml: must be a mapping"),
    ],
)
def test_invalid_funcfiles_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(FuncFileError) as caught:
        parse(text, tmp_path)
    assert caught.value.message.startswith(expected), caught.value.message
    assert "\n" not in caught.value.message and caught.value.code == 2


def test_missing_funcfile_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CliError) as caught:
        funcfile.load(tmp_path)
    assert "hotfn init" in caught.value.message and caught.value.code == 2


def test_name_defaults_to_the_directory(tmp_path: Path) -> None:
    fn_dir = tmp_path / "MyFunc"
    fn_dir.mkdir()
    assert parse("schema_version: 20180708\n", fn_dir).name == "myfunc"


@pytest.mark.parametrize(
    ("before", "after"),
    [("0.0.1", "0.0.2"), ("1.9.9", "1.9.10"), ("1.2.3-rc1", "1.2.4"), (None, "0.0.1")],
)
def test_next_patch(before: str | None, after: str) -> None:
    assert funcfile.next_patch(before) == after


def test_bump_keeps_comments_quotes_and_layout(tmp_path: Path) -> None:
    ff = parse(COMMENTED, tmp_path)
    funcfile.write_version(ff, funcfile.next_patch(ff.version))
    text = (tmp_path / "func.yaml").read_text()
    assert text == COMMENTED.replace('"0.0.9"', '"0.0.10"')
    assert funcfile.load(tmp_path).version == "0.0.10"


def test_bump_plain_scalar_with_inline_comment(tmp_path: Path) -> None:
    text = "schema_version: 20180708\nname: a\nversion: 0.0.1 # v\nmemory: 64\n"
    assert funcfile.with_version(text, "0.0.2") == text.replace("0.0.1", "0.0.2")


def test_bump_adds_a_missing_version_under_name(tmp_path: Path) -> None:
    text = "# c\nschema_version: 20180708\nname: a\nmemory: 64\n"
    assert funcfile.with_version(text, "0.0.1") == (
        "# c\nschema_version: 20180708\nname: a\nversion: 0.0.1\nmemory: 64\n"
    )


def test_bump_of_fn_written_file_changes_only_the_version(tmp_path: Path) -> None:
    ff = parse(FN_PYTHON, tmp_path)
    funcfile.write_version(ff, "0.0.2")
    assert (tmp_path / "func.yaml").read_text() == FN_PYTHON.replace(
        "version: 0.0.1", "version: 0.0.2"
    )
