"""Helpers shared by the apps, fns and triggers queries: JSON columns, time,
cursor pagination, PUT-merge rules and integrity errors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hotfn.errors import Conflict, InvalidInput

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def now() -> datetime:
    """Current UTC time truncated to milliseconds (what the API shows)."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes: they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def loads(value: str | None) -> dict[str, Any]:
    return dict(json.loads(value)) if value else {}


def merge(current: Mapping[str, Any], patch: Mapping[str, Any] | None) -> dict[str, Any]:
    """PUT semantics of Fn for config and annotations: keys set to "" (or null) are
    removed, other keys are set, keys not named are kept."""
    merged = dict(current)
    for key, value in (patch or {}).items():
        if value == "" or value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def without_empty(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """On create, "" (or null) means "no value", as it does in a PUT."""
    return merge({}, values)


def encode_cursor(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """A cursor is a position: any base64url text is one (bytes that are not UTF-8
    are replaced, a dangling sixth-bit character is dropped)."""
    if len(cursor) % 4 == 1:
        cursor = cursor[:-1]
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        # validate=True: characters outside the alphabet are an error, not skipped.
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
        return raw.decode(errors="replace")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInput(
            "cursor is not valid: pass back the next_cursor of the previous page"
        ) from None


def page_size(per_page: int | None) -> int:
    if per_page is None:
        return DEFAULT_PER_PAGE
    if per_page < 1:
        raise InvalidInput("per_page must be a positive number")
    return min(per_page, MAX_PER_PAGE)


def paginate(
    query: sa.Select[Any],
    name_col: sa.ColumnElement[str],
    id_col: sa.ColumnElement[str],
    cursor: str | None,
    per_page: int | None,
    names_unique: bool,
) -> tuple[sa.Select[Any], int]:
    """Order by name and start after the cursor.

    The cursor is the base64url of the last name. Where names are not unique within
    the listing (fns across apps), it is ``name`` NUL ``id`` so no row is skipped or
    repeated at a page boundary.
    """
    size = page_size(per_page)
    if cursor:
        last = decode_cursor(cursor)
        # NUL separates name and id (below); any other NUL comes from a forged cursor
        # and PostgreSQL text cannot hold one.
        if names_unique:
            query = query.where(name_col > last.replace("\x00", ""))
        else:
            name, _, last_id = last.partition("\x00")
            last_id = last_id.replace("\x00", "")
            query = query.where(
                sa.or_(name_col > name, sa.and_(name_col == name, id_col > last_id))
            )
    return query.order_by(name_col, id_col).limit(size), size


def next_cursor(rows: Sequence[Any], size: int, names_unique: bool) -> str | None:
    """A cursor only when the page is full (there may be more)."""
    if len(rows) < size:
        return None
    last = rows[-1]
    return encode_cursor(last.name if names_unique else f"{last.name}\x00{last.id}")


@asynccontextmanager
async def conflict_on_duplicate(message: str) -> AsyncIterator[None]:
    """A unique-constraint violation becomes a 409 with ``message``."""
    try:
        yield
    except IntegrityError:
        raise Conflict(message) from None
