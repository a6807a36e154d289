"""Object names, validated exactly as Fn's server validates them (fnproject/fn
``api/models``), so that whatever Fn accepts, hotfn accepts, and the reverse.

- Apps (``App.ValidateName``) and triggers (``Trigger.ValidateName``): every character
  is a Unicode letter or number (Go's ``unicode.IsLetter`` / ``unicode.IsNumber``:
  general categories L* and N*), ``_`` or ``-``. "é", "名前" and "Ⅻ" are names.
- Fns (``Fn.Validate``): the name is what ``url.PathEscape`` leaves unchanged: ASCII
  letters and digits and ``- _ . ~ $ & + : = @``.
- All three: 1 to 255 bytes of UTF-8 (``MaxLengthAppName`` … ``= 255``; Go's ``len``
  counts bytes, so "é" counts two).

JSON Schema cannot say "Unicode letter" portably (``\\p{L}`` is not in Python's or
ECMAScript's default regex dialects), so the OpenAPI document carries a pattern that
every valid name matches (no ASCII punctuation, space or control character) plus the
exact rule in words; the validator below applies the exact rule, with the Unicode
database of the running Python (``unicodedata``), as Go uses its own.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

NAME_MAX_BYTES = 255
RULE_ERROR = "hotfn_rule"  # an error whose message is complete as it stands

_FN_CHARS = frozenset(string.ascii_letters + string.digits + "-_.~$&+:=@")
# The ASCII characters other than letters, digits, '-' and '_' (controls and DEL
# included): what no app or trigger name contains (the schema's superset pattern).
_NOT_ASCII_WORD = r"\x00-\x2c\x2e\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f"
_LETTERS_HINT = "use letters and digits (any script), '_' and '-'"
_FN_HINT = "use ASCII letters, digits and - _ . ~ $ & + : = @"


def rule_error(message: str) -> PydanticCustomError:
    """A validation error reported to the caller with exactly ``message``."""
    return PydanticCustomError(RULE_ERROR, message)


def _letter_or_number(char: str) -> bool:
    return char in "_-" or unicodedata.category(char)[0] in "LN"


def _checker(kind: str, allowed: Callable[[str], bool], hint: str) -> Callable[[str], str]:
    def check(name: str) -> str:
        shown = repr(name)[:80]
        if not name:
            raise rule_error(f"{kind} name is missing: give a non-empty name")
        size = len(name.encode("utf-8", errors="surrogatepass"))
        if size > NAME_MAX_BYTES:
            raise rule_error(
                f"{kind} name must be {NAME_MAX_BYTES} bytes or less (UTF-8); it has {size}"
            )
        if not all(allowed(c) for c in name):
            raise rule_error(f"{kind} name {shown} is not valid: {hint}")
        return name

    return check


def _schema(pattern: str, rule: str) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": NAME_MAX_BYTES,
            "pattern": pattern,
            "description": f"{rule}; at most {NAME_MAX_BYTES} bytes of UTF-8",
        }
    )


_UNICODE_RULE = "Unicode letters and numbers (categories L and N), '_' and '-'"
AppName = Annotated[
    str,
    AfterValidator(_checker("app", _letter_or_number, _LETTERS_HINT)),
    _schema(rf"^[^{_NOT_ASCII_WORD}]+$", _UNICODE_RULE),
]
TriggerName = Annotated[
    str,
    AfterValidator(_checker("trigger", _letter_or_number, _LETTERS_HINT)),
    _schema(rf"^[^{_NOT_ASCII_WORD}]+$", _UNICODE_RULE),
]
FnName = Annotated[
    str,
    AfterValidator(_checker("fn", _FN_CHARS.__contains__, _FN_HINT)),
    _schema(r"^[A-Za-z0-9._~$&+:=@-]+$", "ASCII letters, digits and - _ . ~ $ & + : = @"),
]
