"""``--output table|json|yaml`` for list and inspect commands.

Tables are for people (rich, no borders, so they still read well in a pipe);
JSON and YAML print the API's objects whole, for scripts.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from ruamel.yaml import YAML

from hotfn.cli.common import out, usage_error

FORMATS = ("table", "json", "yaml")
Column = tuple[str, str]  # (header, dotted path into the object)


def check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise usage_error(f"--output {fmt!r}: use table, json or yaml")
    return fmt


def dig(obj: Any, path: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``; ``None`` where a step is missing."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False)


def to_yaml(value: Any) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump(value, buf)
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header, _ in columns:
        table.add_column(header, no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(_cell(dig(row, path)) for _, path in columns))
    return table


def show_list(rows: Sequence[dict[str, Any]], columns: Sequence[Column], fmt: str) -> None:
    """A list of objects: a table, or the objects as JSON / YAML."""
    fmt = check_format(fmt)
    console = out()
    if fmt == "json":
        console.print(to_json(list(rows)), markup=False)
    elif fmt == "yaml":
        console.print(to_yaml(list(rows)), markup=False, end="")
    else:
        console.print(render_table(rows, columns))


def show_object(value: Any, fmt: str) -> None:
    """One object (or one property of it). ``table`` shows a mapping as KEY/VALUE rows."""
    fmt = check_format(fmt)
    console = out()
    if fmt == "yaml":
        console.print(to_yaml(value), markup=False, end="")
    elif fmt == "table" and isinstance(value, dict):
        rows = [{"key": k, "value": v} for k, v in value.items()]
        console.print(render_table(rows, [("KEY", "key"), ("VALUE", "value")]))
    elif fmt == "table" and not isinstance(value, list):
        console.print(_cell(value), markup=False)
    else:
        console.print(to_json(value), markup=False)
