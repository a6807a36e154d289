"""Response headers the errors ask for (hotfn/errors.py)."""

from __future__ import annotations

from hotfn.errors import NotFound, RequestTimeout


def test_a_stalled_body_closes_its_connection() -> None:
    # The body was not read to its end: the connection cannot carry another request.
    assert RequestTimeout().headers() == {"Connection": "close"}


def test_other_errors_keep_the_connection() -> None:
    assert NotFound().headers() == {}
