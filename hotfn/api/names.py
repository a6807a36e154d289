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
exact rule in words; the checks below apply the exact rule, with the Unicode database
of the running Python (``unicodedata``), as Go uses its own. No pydantic here: the
CLI checks func.yaml's trigger names with the same rule (``hotfn.api.models`` makes
the validators).
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Callable

NAME_MAX_BYTES = 255

_FN_CHARS = frozenset(string.ascii_letters + string.digits + "-_.~$&+:=@")
# The ASCII characters other than letters, digits, '-' and '_' (controls and DEL
# included): what no app or trigger name contains (the schema's superset pattern).
_NOT_ASCII_WORD = r"\x00-\x2c\x2e\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f"
LETTERS_PATTERN = rf"^[^{_NOT_ASCII_WORD}]+$"
FN_PATTERN = r"^[A-Za-z0-9._~$&+:=@-]+$"
LETTERS_RULE = "Unicode letters and numbers (categories L and N), '_' and '-'"
FN_RULE = "ASCII letters, digits and - _ . ~ $ & + : = @"
_LETTERS_HINT = "use letters and digits (any script), '_' and '-'"
_FN_HINT = "use ASCII letters, digits and - _ . ~ $ & + : = @"


def _letter_or_number(char: str) -> bool:
    return char in "_-" or unicodedata.category(char)[0] in "LN"


def _problem(kind: str, allowed: Callable[[str], bool], hint: str) -> Callable[[str], str | None]:
    def problem(name: str) -> str | None:
        if not name:
            return f"{kind} name is missing: give a non-empty name"
        size = len(name.encode("utf-8", errors="surrogatepass"))
        if size > NAME_MAX_BYTES:
            return f"{kind} name must be {NAME_MAX_BYTES} bytes or less (UTF-8); it has {size}"
        if not all(allowed(c) for c in name):
            return f"{kind} name {repr(name)[:80]} is not valid: {hint}"
        return None

    return problem


# Each returns what is wrong with a name, in words a user can act on, or None.
app_name_problem = _problem("app", _letter_or_number, _LETTERS_HINT)
trigger_name_problem = _problem("trigger", _letter_or_number, _LETTERS_HINT)
fn_name_problem = _problem("fn", _FN_CHARS.__contains__, _FN_HINT)
