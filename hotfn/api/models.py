"""JSON shapes of the /v2 API (pydantic), with the validation rules of design.md §5.

The rules live in the types (patterns, lengths, ranges) so that the OpenAPI document
states what the server accepts (exactly, but for names of any script: see
:mod:`hotfn.api.names`). Request models forbid unknown fields and do
not coerce types: a typo or a string where a number belongs is a 400 naming the field.
Create bodies require what a new object needs; update (PUT) bodies merge, so every
field is optional there.

Read-only fields are accepted and ignored, as Fn's server does: Fn's CLI builds its
bodies from Fn's go-openapi models, so every create carries zero timestamps and every
update the whole object it read (id, timestamps, the endpoint annotations the server
adds). That is handled here, once, for apps, fns and triggers (:class:`_ReadOnly`,
:data:`SERVER_ANNOTATIONS`); an ``id`` follows Fn's rules (refused on create, must
match the path on update). Names follow Fn's rules too (:mod:`hotfn.api.names`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from annotated_types import Interval
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from hotfn.api.names import (
    FN_PATTERN,
    FN_RULE,
    LETTERS_PATTERN,
    LETTERS_RULE,
    NAME_MAX_BYTES,
    app_name_problem,
    fn_name_problem,
    trigger_name_problem,
)
from hotfn.drivers.registry import AUTH_ANNOTATION, auth_name_problem
from hotfn.errors import InvalidInput
from hotfn.types import HTTP_ENDPOINT, INVOKE_ENDPOINT

RULE_ERROR = "hotfn_rule"  # a validation error whose message is complete as it stands


def rule_error(message: str) -> PydanticCustomError:
    """A validation error reported to the caller with exactly ``message``."""
    return PydanticCustomError(RULE_ERROR, message)


def _checked(problem: Callable[[str], str | None]) -> AfterValidator:
    def check(name: str) -> str:
        found = problem(name)
        if found:
            raise rule_error(found)
        return name

    return AfterValidator(check)


def _name_schema(pattern: str, rule: str) -> WithJsonSchema:
    return WithJsonSchema({
        "type": "string", "minLength": 1, "maxLength": NAME_MAX_BYTES, "pattern": pattern,
        "description": f"{rule}; at most {NAME_MAX_BYTES} bytes of UTF-8",
    })  # fmt: skip


AppName = Annotated[str, _checked(app_name_problem), _name_schema(LETTERS_PATTERN, LETTERS_RULE)]
TriggerName = Annotated[
    str, _checked(trigger_name_problem), _name_schema(LETTERS_PATTERN, LETTERS_RULE)
]
FnName = Annotated[str, _checked(fn_name_problem), _name_schema(FN_PATTERN, FN_RULE)]

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

# Config becomes environment variables: keys must be valid variable names.
ConfigKey = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=CONFIG_KEY_MAX, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$"
    ),
]
_NO_NUL = r"^[^\x00]*$"
ConfigValue = Annotated[str, StringConstraints(max_length=CONFIG_VALUE_MAX, pattern=_NO_NUL)]
AnnotationKey = Annotated[
    str, StringConstraints(min_length=1, max_length=ANNOTATION_KEY_MAX, pattern=r"^[!-~]+$")
]
# Docker's image reference grammar (distribution/reference): an optional registry
# (with a dot or port, or localhost), lowercase path components, a tag, a digest.
# Checked here so that a typo is a 400 at deploy time, not a failed call later.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_REGISTRY = rf"(?:(?:localhost|{_HOST}(?:\.{_HOST})+)(?::[0-9]+)?/|{_HOST}:[0-9]+/)?"
_TAG = r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
_DIGEST = r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
IMAGE_PATTERN = rf"^{_REGISTRY}{_COMPONENT}(?:/{_COMPONENT})*{_TAG}{_DIGEST}$"
Image = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=IMAGE_PATTERN)]
Source = Annotated[
    str, StringConstraints(min_length=1, max_length=SOURCE_MAX, pattern=r"^/[^\x00-\x20\x7f?#]*$")
]
Id = Annotated[str, StringConstraints(max_length=64, pattern=r"^[^\x00]*$")]


def _integral(value: Any) -> Any:
    # 128.0 is the integer 128 in JSON; booleans and strings stay errors.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Keys the server writes into annotations on the way out (views.py). A client that
# PUTs back what it read sends them: they are dropped before any check (so they never
# count against the key limit) and never stored.
SERVER_ANNOTATIONS = frozenset({INVOKE_ENDPOINT, HTTP_ENDPOINT})


def _without_server_annotations(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in SERVER_ANNOTATIONS}
    return value


def _annotation_values(value: dict[str, Any] | None) -> dict[str, Any] | None:
    for key, val in (value or {}).items():
        # Checked here, not at the first pull: the name becomes a file name. ""
        # removes the key on update.
        if key == AUTH_ANNOTATION and val != "" and (problem := auth_name_problem(val)):
            raise rule_error(problem)
        text = json.dumps(val, separators=(",", ":"), ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # "\ud800" escapes decode to lone surrogates
            raise ValueError(
                f"annotation {key!r}: values must be valid Unicode (no lone surrogates)"
            ) from None
        if len(json.dumps(val, separators=(",", ":"))) > ANNOTATION_VALUE_MAX:
            raise ValueError(
                f"annotation {key!r}: values may be at most {ANNOTATION_VALUE_MAX} bytes as JSON"
            )
    return value


Memory = Annotated[int, Interval(ge=1, le=MEMORY_MAX), BeforeValidator(_integral)]
Timeout = Annotated[int, Interval(ge=1, le=TIMEOUT_MAX), BeforeValidator(_integral)]
IdleTimeout = Annotated[int, Interval(ge=1, le=IDLE_TIMEOUT_MAX), BeforeValidator(_integral)]
Config = Annotated[dict[ConfigKey, ConfigValue], Field(max_length=CONFIG_MAX_KEYS)]
Annotations = Annotated[
    dict[AnnotationKey, Any],
    Field(
        max_length=ANNOTATIONS_MAX_KEYS,
        description=f"JSON values of at most {ANNOTATION_VALUE_MAX} bytes each; the "
        "server's own keys (fnproject.io/fn/invokeEndpoint, fnproject.io/trigger/"
        "httpEndpoint) are accepted and ignored",
    ),
    AfterValidator(_annotation_values),
    BeforeValidator(_without_server_annotations),
]
Format = Literal["http-stream", "default"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Timestamp = Annotated[str, StringConstraints(max_length=64)]
_IGNORED = "read-only: accepted and ignored (the server sets it)"


class _ReadOnly(_In):
    """The fields a client may send back but never sets: timestamps, ignored here."""

    created_at: Timestamp | None = Field(None, description=_IGNORED)
    updated_at: Timestamp | None = Field(None, description=_IGNORED)


def _refuse_id(message: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value:  # Fn's Go models read "" as absent
            raise rule_error(message)
        return value

    return AfterValidator(check)


NO_ID = WithJsonSchema(
    {
        "anyOf": [{"type": "string", "maxLength": 0}, {"type": "null"}],
        "description": "read-only: the server assigns ids; an id on create is a 400",
    }
)


class _Update(_ReadOnly):
    """A PUT body: what a GET returned may come back whole."""

    id: Id | None = Field(None, description="read-only: if given, must be the path's id")
    # Fn's message (api/models) for an id that is not the path's.
    id_mismatch: ClassVar[str]

    def check_id(self, path_id: str) -> None:
        """Refuse (400, as Fn does) a body whose id names another object."""
        if self.id and self.id != path_id:
            raise InvalidInput(self.id_mismatch)


class _AppFields(_In):
    name: AppName | None = None
    config: Config | None = None
    annotations: Annotations | None = None
    syslog_url: Annotated[str, StringConstraints(max_length=2048, pattern=_NO_NUL)] | None = None
    shape: Annotated[str, StringConstraints(max_length=255, pattern=_NO_NUL)] | None = None


class AppUpdate(_AppFields, _Update):
    """Body of PUT /v2/apps/{app_id}: merges; config/annotation keys set to "" go."""

    id_mismatch = "App ID in path does not match ID in body"


class AppCreate(_AppFields, _ReadOnly):
    """Body of POST /v2/apps."""

    name: AppName
    id: Annotated[str | None, _refuse_id("App ID cannot be supplied on create"), NO_ID] = None


class _FnFields(_In):
    name: FnName | None = None
    app_id: Id | None = None
    image: Image | None = None
    memory: Memory | None = None
    timeout: Timeout | None = None
    idle_timeout: IdleTimeout | None = None
    format: Format | None = None
    config: Config | None = None
    annotations: Annotations | None = None


class FnUpdate(_FnFields, _Update):
    """Body of PUT /v2/fns/{fn_id}: merges; name and app_id cannot change."""

    id_mismatch = "Fn ID in path does not match that in body"


class FnCreate(_FnFields, _ReadOnly):
    """Body of POST /v2/fns."""

    name: FnName
    app_id: Id
    image: Image
    id: Annotated[str | None, _refuse_id("ID cannot be provided for Fn creation"), NO_ID] = None


class _TriggerFields(_In):
    name: TriggerName | None = None
    app_id: Id | None = None
    fn_id: Id | None = None
    type: Literal["http"] | None = None
    source: Source | None = None
    annotations: Annotations | None = None


class TriggerUpdate(_TriggerFields, _Update):
    """Body of PUT /v2/triggers/{trigger_id}: source and annotations may change."""

    id_mismatch = "ID in path does not match ID in body"


class TriggerCreate(_TriggerFields, _ReadOnly):
    """Body of POST /v2/triggers."""

    name: TriggerName
    id: Annotated[str | None, _refuse_id("ID cannot be provided for Trigger creation"), NO_ID] = (
        None
    )
    app_id: Id
    fn_id: Id
    type: Literal["http"]
    source: Source


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
    format: Format
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


class Prewarmed(BaseModel):
    requested: int
    ready: int = Field(description="hot containers of the fn started and ready")


class ErrorBody(BaseModel):
    message: str


class Version(BaseModel):
    version: str
