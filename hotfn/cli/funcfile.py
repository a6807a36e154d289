"""func.yaml (schema_version 20180708, design.md §6): load, validate, bump.

The file is Fn's: every field Fn's CLI writes is read here with Fn's meaning, plus
hotfn's ``format``. Validation names the field and says why, so a bad file is one
line (``func.yaml: memory: ...``) and exit 2. Bumping rewrites only the version
scalar in the text (quotes kept): the user's comments, order, indentation and
blank lines stay byte for byte, which a YAML dump cannot promise.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from hotfn.api.names import trigger_name_problem
from hotfn.cli.common import EXIT_USAGE, CliError, note

NAMES = ("func.yaml", "func.yml", "func.json")  # the order Fn's CLI looks for them
SCHEMA_VERSION = 20180708
INITIAL_VERSION = "0.0.1"
FORMATS = ("http-stream", "default")
# Fn's older hot formats: today's FDKs all speak http-stream.
LEGACY_FORMATS = {"http": "http-stream", "json": "http-stream", "cloudevent": "http-stream"}
# Names become image names (lowercase components) and API names (no dots).
NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)*$")
CONFIG_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# Semantic version without build metadata: the version is a Docker tag, which has no '+'.
VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$")
LIMITS = {"memory": (1, 8192, "MB"), "timeout": (1, 300, "s"), "idle_timeout": (1, 3600, "s")}
STRING_FIELDS = (
    "runtime", "build_image", "run_image", "cmd", "entrypoint", "content_type", "type",
    "registry",  # hotfn's: where `hotfn deploy` pushes (HOST/OWNER), as --registry
)  # fmt: skip
# Fields of Fn's pre-2018 files that its CLI still reads without complaint.
IGNORED_FIELDS = ("path", "cpus", "headers", "tests")


class FuncFileError(CliError):
    """func.yaml is missing or invalid: exit 2, naming the field."""

    def __init__(self, path: Path | str, message: str) -> None:
        name = Path(path).name
        super().__init__(f"{name}: {message}", EXIT_USAGE)


@dataclass
class Trigger:
    name: str
    type: str
    source: str


@dataclass
class FuncFile:
    """A parsed function file; ``text`` is the file as read, for bumping."""

    path: Path
    text: str
    name: str
    version: str | None = None
    runtime: str | None = None
    build_image: str | None = None
    run_image: str | None = None
    cmd: str | None = None
    entrypoint: str | None = None
    content_type: str | None = None
    type: str | None = None
    registry: str | None = None
    format: str | None = None
    memory: int | None = None
    timeout: int | None = None
    idle_timeout: int | None = None
    config: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    triggers: list[Trigger] = field(default_factory=list)
    expects_config: list[tuple[str, bool]] = field(default_factory=list)
    build: list[str] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return self.path.parent

    def image(self, registry: str | None = None, version: str | None = None) -> str:
        """``[registry/]name:version``, as Fn names function images."""
        base = f"{registry.rstrip('/')}/{self.name}" if registry else self.name
        tag = version or self.version
        return f"{base}:{tag}" if tag else base


def find(directory: Path) -> Path:
    for name in NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise CliError(
        f"no func.yaml in {directory}; create one with `hotfn init` "
        "or run the command in a function's directory",
        EXIT_USAGE,
    )


def load(directory: Path) -> FuncFile:
    path = find(directory)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FuncFileError(path, f"cannot read it: {exc}") from None
    return parse(text, path)


def _load_yaml(text: str, path: Path) -> Any:
    try:
        return YAML(typ="rt", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise FuncFileError(path, f"not valid YAML: {where}{exc.problem}") from None
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FuncFileError(path, f"not valid YAML: {first}") from None


def parse(text: str, path: Path) -> FuncFile:
    """Validate ``text`` (the file at ``path``) the way deploy needs it."""
    data = _load_yaml(text, path)
    if not isinstance(data, dict):
        raise FuncFileError(path, "must be a mapping of fields (schema_version, name, ...)")
    fail = _Failer(path)
    schema = data.get("schema_version")
    if schema is None:
        fail("schema_version", "missing; add `schema_version: 20180708` (routes-era files "
             "are not supported: `fn migrate` converts them)")  # fmt: skip
    if isinstance(schema, bool) or schema != SCHEMA_VERSION:
        fail("schema_version", f"must be {SCHEMA_VERSION} (got {schema!r})")
    name = data.get("name")
    if name is None:
        name = path.resolve().parent.name.lower()  # Fn names a function after its directory
        where = f"the directory name {name!r}"
    else:
        where = repr(name)
    if not isinstance(name, str) or not NAME_RE.match(name):
        fail("name", f"{where} cannot name a function image: use lowercase letters, digits, "
             "'_' and '-', starting and ending with a letter or digit")  # fmt: skip
    ff = FuncFile(path=path, text=text, name=name)
    version = data.get("version")
    if version is not None:
        if not isinstance(version, str) or not VERSION_RE.match(version):
            fail("version", f"must be a version like 0.0.1 (got {version!r}); it tags the image")
        ff.version = version
    for key in STRING_FIELDS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            fail(key, f"must be a string (got {value!r})")
        setattr(ff, key, value)
    for key, (low, high, unit) in LIMITS.items():
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            fail(key, f"must be a whole number from {low} to {high} ({unit}), got {value!r}")
        setattr(ff, key, int(value))
    ff.format = _format(data.get("format"), fail)
    ff.config = _config(data.get("config"), fail)
    annotations = data.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        fail("annotations", "must be a mapping of key: value")
    ff.annotations = _plain(annotations or {})
    ff.triggers = _triggers(data.get("triggers"), fail)
    ff.expects_config = _expects(data.get("expects"), fail)
    build = data.get("build")
    if build is not None and not (
        isinstance(build, list) and all(isinstance(s, str) for s in build)
    ):
        fail("build", "must be a list of shell commands")
    ff.build = list(build or [])
    for key in data:
        if key not in _KNOWN:
            note(f"note: {path.name}: field {key!r} is not a func.yaml field; ignored")
    return ff


class _Failer:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, key: str, why: str) -> None:
        raise FuncFileError(self.path, f"{key}: {why}")


def _format(value: Any, fail: _Failer) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value in LEGACY_FORMATS:
        return LEGACY_FORMATS[value]
    if value not in FORMATS:
        fail(
            "format", f"must be http-stream (hot) or default (a container per call), got {value!r}"
        )
    return str(value)


def _config(value: Any, fail: _Failer) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail("config", "must be a mapping of KEY: value")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not CONFIG_KEY_RE.match(key):
            fail("config", f"key {key!r} cannot be an environment variable name")
        if isinstance(item, dict | list):
            fail(f"config.{key}", "must be a single value, not a list or mapping")
        # Fn reads config as strings: `PORT: 8080` is "8080", `DEBUG: true` is "true".
        result[key] = (
            "" if item is None else (str(item).lower() if isinstance(item, bool) else str(item))
        )
    return result


def _triggers(value: Any, fail: _Failer) -> list[Trigger]:
    if value is None:
        return []
    if not isinstance(value, list):
        fail("triggers", "must be a list of {name, type, source}")
    result = []
    for i, item in enumerate(value):
        where = f"triggers[{i}]"
        if not isinstance(item, dict):
            fail(where, "must be a mapping with name, type and source")
        name, kind, source = item.get("name"), item.get("type", "http"), item.get("source")
        if not isinstance(name, str):
            fail(f"{where}.name", f"must be a string (got {name!r})")
        problem = trigger_name_problem(name)
        if problem:
            fail(f"{where}.name", problem)
        if kind != "http":
            fail(f"{where}.type", f"must be http (got {kind!r})")
        if (
            not isinstance(source, str)
            or not source.startswith("/")
            or any(c in source for c in " ?#\t")
        ):
            fail(f"{where}.source", f"must be a path starting with '/' (got {source!r})")
        result.append(Trigger(name, "http", source))
    return result


def _expects(value: Any, fail: _Failer) -> list[tuple[str, bool]]:
    if value is None:
        return []
    entries = value.get("config") if isinstance(value, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries
    ):
        fail("expects.config", "must be a list of {name, required}")
    return [(e["name"], bool(e.get("required", False))) for e in entries]


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists (for JSON bodies)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    # ruamel's scalar subclasses (ScalarFloat, ...) become the plain built-in types.
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return None if value is None else str(value)


_KNOWN = {
    "schema_version", "name", "version", "format", "memory", "timeout", "idle_timeout",
    "config", "annotations", "triggers", "expects", "build", *STRING_FIELDS, *IGNORED_FIELDS,
}  # fmt: skip


# -- versions ------------------------------------------------------------------------


def next_patch(version: str | None) -> str:
    """Fn's patch bump: 0.0.1 → 0.0.2; a pre-release goes (1.2.3-rc1 → 1.2.4); none → 0.0.1."""
    if not version:
        return INITIAL_VERSION
    match = VERSION_RE.match(version)
    if not match:
        raise ValueError(f"not a version: {version!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return f"{major}.{minor}.{patch + 1}"


def with_version(text: str, new: str, path: Path | None = None) -> str:
    """``text`` with its ``version`` set to ``new``, nothing else changed."""
    if path is not None and path.suffix == ".json":
        data = json.loads(text)
        data["version"] = new
        return json.dumps(data, indent=2) + "\n"
    data = YAML(typ="rt", pure=True).load(text)
    lines = text.splitlines(keepends=True)
    if "version" in data:
        line, col = data.lc.value("version")
        lines[line] = _replace_scalar(lines[line], col, new)
        return "".join(lines)
    # No version yet: add it under `name:` (or first), at the top level's indentation.
    anchor = "name" if "name" in data else next(iter(data))
    line, col = data.lc.key(anchor)
    end = line + 1 if anchor == "name" else line
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if end == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    lines.insert(end, " " * col + f"version: {new}{newline}")
    return "".join(lines)


def _replace_scalar(line: str, col: int, new: str) -> str:
    quote = line[col] if line[col] in "'\"" else ""
    if quote:
        stop = line.index(quote, col + 1) + 1
        return line[:col] + quote + new + quote + line[stop:]
    rest = line[col:]
    match = re.match(r"[^\s#]+", rest)
    stop = col + (match.end() if match else 0)
    return line[:col] + new + line[stop:]


def write_version(ff: FuncFile, new: str) -> None:
    """Set the version in the file on disk (and in ``ff``)."""
    text = with_version(ff.text, new, ff.path)
    ff.path.write_text(text, encoding="utf-8")
    ff.text, ff.version = text, new
