"""JSON shapes of the /v2 API (pydantic), with the validation rules of design.md §5.

Request models forbid unknown fields and do not coerce types (strict), so a typo or a
string where a number belongs is a 400 that names the field, not a silent default.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from hotfn.types import FORMATS

NAME_MAX = 255
MEMORY_MAX = 8192
TIMEOUT_MAX = 300
IDLE_TIMEOUT_MAX = 3600
ANNOTATION_KEY_MAX = 128
ANNOTATION_VALUE_MAX = 512
ANNOTATIONS_MAX_KEYS = 100
CONFIG_MAX_KEYS = 500
CONFIG_KEY_MAX = 256
CONFIG_VALUE_MAX = 16384
SOURCE_MAX = 2048

Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX)]


def check_name(value: str, what: str) -> str:
    """Names are letters, digits, ``_`` and ``-`` (as Fn), at most 255 characters."""
    if not value:
        raise ValueError(f"{what} name must not be empty")
    bad = sorted({c for c in value if not (c.isalnum() or c in "_-")})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        raise ValueError(
            f"{what} name may contain only letters, digits, '_' and '-' (found {shown})"
        )
    return value


def check_config(value: dict[str, str] | None) -> dict[str, str] | None:
    """Config becomes environment variables: keys must be valid variable names."""
    if value is None:
        return None
    if len(value) > CONFIG_MAX_KEYS:
        raise ValueError(f"at most {CONFIG_MAX_KEYS} config keys are allowed")
    for key, val in value.items():
        if not key or len(key) > CONFIG_KEY_MAX:
            raise ValueError(f"config keys must be 1 to {CONFIG_KEY_MAX} characters")
        if not (key[0].isascii() and (key[0].isalpha() or key[0] == "_")) or not all(
            c.isascii() and (c.isalnum() or c in "_.-") for c in key
        ):
            raise ValueError(
                f"config key {key[:64]!r} is not a valid environment variable name: "
                "use ASCII letters, digits, '_', '.' and '-', not starting with a digit"
            )
        if "\x00" in val or len(val) > CONFIG_VALUE_MAX:
            raise ValueError(
                f"config value of {key!r} must be at most {CONFIG_VALUE_MAX} characters "
                "without NUL bytes"
            )
    return value


def check_annotations(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Annotation rules of Fn: printable ASCII keys, JSON values up to 512 bytes."""
    import json

    if value is None:
        return None
    if len(value) > ANNOTATIONS_MAX_KEYS:
        raise ValueError(f"at most {ANNOTATIONS_MAX_KEYS} annotation keys are allowed")
    for key, val in value.items():
        if not key or not all("!" <= c <= "~" for c in key):
            raise ValueError("annotation keys must be non-empty printable ASCII without whitespace")
        if len(key) > ANNOTATION_KEY_MAX:
            raise ValueError(f"annotation keys may be at most {ANNOTATION_KEY_MAX} bytes")
        if len(json.dumps(val, separators=(",", ":"))) > ANNOTATION_VALUE_MAX:
            raise ValueError(
                f"annotation {key!r}: values may be at most {ANNOTATION_VALUE_MAX} bytes as JSON"
            )
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _WithConfig(_In):
    config: dict[str, str] | None = None
    annotations: dict[str, Any] | None = None

    _config = field_validator("config")(classmethod(lambda cls, v: check_config(v)))
    _annotations = field_validator("annotations")(classmethod(lambda cls, v: check_annotations(v)))


class AppIn(_WithConfig):
    """Body of POST /v2/apps and PUT /v2/apps/{app_id} (PUT merges)."""

    id: str | None = None
    name: Name | None = None
    syslog_url: str | None = Field(default=None, max_length=2048)
    shape: str | None = Field(default=None, max_length=255)
    created_at: str | None = None  # read-only; accepted and ignored so a GET can be PUT back
    updated_at: str | None = None

    _name = field_validator("name")(
        classmethod(lambda cls, v: v if v is None else check_name(v, "app"))
    )


class FnIn(_WithConfig):
    """Body of POST /v2/fns and PUT /v2/fns/{fn_id} (PUT merges)."""

    id: str | None = None
    name: Name | None = None
    app_id: str | None = Field(default=None, max_length=64)
    image: str | None = Field(default=None, min_length=1, max_length=1024)
    memory: int | None = Field(default=None, ge=1, le=MEMORY_MAX)
    timeout: int | None = Field(default=None, ge=1, le=TIMEOUT_MAX)
    idle_timeout: int | None = Field(default=None, ge=1, le=IDLE_TIMEOUT_MAX)
    format: Literal["http-stream", "default"] | None = None
    created_at: str | None = None
    updated_at: str | None = None

    _name = field_validator("name")(
        classmethod(lambda cls, v: v if v is None else check_name(v, "fn"))
    )

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        if v is not None and (v != v.strip() or any(c.isspace() or ord(c) < 32 for c in v)):
            raise ValueError("image must be an image reference without whitespace")
        return v


class TriggerIn(_In):
    """Body of POST /v2/triggers and PUT /v2/triggers/{trigger_id} (PUT merges)."""

    id: str | None = None
    name: Name | None = None
    app_id: str | None = Field(default=None, max_length=64)
    fn_id: str | None = Field(default=None, max_length=64)
    type: Literal["http"] | None = None
    source: str | None = Field(default=None, max_length=SOURCE_MAX)
    annotations: dict[str, Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None

    _name = field_validator("name")(
        classmethod(lambda cls, v: v if v is None else check_name(v, "trigger"))
    )
    _annotations = field_validator("annotations")(classmethod(lambda cls, v: check_annotations(v)))

    @field_validator("source")
    @classmethod
    def _source(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.startswith("/"):
            raise ValueError("source must start with '/' (e.g. \"/hello\")")
        if any(c.isspace() or ord(c) < 32 or c in "?#" for c in v):
            raise ValueError("source must be a URL path without whitespace, '?' or '#'")
        return v


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")

    created_at: str = Field(description="RFC 3339, UTC, milliseconds")
    updated_at: str = Field(description="RFC 3339, UTC, milliseconds")


class AppOut(_Out):
    id: str
    name: str
    config: dict[str, str]
    annotations: dict[str, Any]
    syslog_url: str | None = None
    shape: str | None = None


class FnOut(_Out):
    id: str
    name: str
    app_id: str
    image: str
    memory: int
    timeout: int
    idle_timeout: int
    format: Literal["http-stream", "default"]
    config: dict[str, str]
    annotations: dict[str, Any]


class TriggerOut(_Out):
    id: str
    name: str
    app_id: str
    fn_id: str
    type: Literal["http"]
    source: str
    annotations: dict[str, Any]


class AppList(BaseModel):
    items: list[AppOut]
    next_cursor: str | None = None


class FnList(BaseModel):
    items: list[FnOut]
    next_cursor: str | None = None


class TriggerList(BaseModel):
    items: list[TriggerOut]
    next_cursor: str | None = None


class ErrorBody(BaseModel):
    message: str


class Version(BaseModel):
    version: str


assert set(FORMATS) == {"http-stream", "default"}
