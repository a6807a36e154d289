"""Time-sortable 26-character ids (ULID layout: 48-bit ms time + 80 random bits,
Crockford base32), as Fn uses for apps, fns, triggers and calls.

Ids made by one process in the same millisecond stay in order: the random part is
incremented rather than redrawn, so sorting by id is sorting by creation. Neither a
clock that steps back nor 2**80 ids in one millisecond breaks that: the time part
never goes back, and an overflowing random part carries into it.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = -1
_last_rand = 0
# Random bytes drawn 4 KiB at a time and used 10 per id: one getrandom() syscall per
# ~400 ids instead of one per id (every call id). Bytes are never used twice, and
# a forked child draws its own (it must not make the parent's ids).
_POOL_SIZE = 4000
_pool = b""
_pos = 0


def _forget_pool() -> None:
    global _pool, _pos
    _pool, _pos = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


# Every pair of digits (10 bits): an id is 13 lookups, not 26 steps of a loop.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def _encode(value: int, length: int) -> str:
    """The low ``5 * length`` bits of ``value`` as ``length`` digits (``length`` even)."""
    return "".join([_PAIRS[(value >> s) & 1023] for s in range(5 * length - 10, -10, -10)])


def _encode_id(v: int) -> str:
    """``_encode(v, 26)`` unrolled: every call id pays for this."""
    p = _PAIRS
    return (
        p[v >> 120 & 1023] + p[v >> 110 & 1023] + p[v >> 100 & 1023] + p[v >> 90 & 1023]
        + p[v >> 80 & 1023] + p[v >> 70 & 1023] + p[v >> 60 & 1023] + p[v >> 50 & 1023]
        + p[v >> 40 & 1023] + p[v >> 30 & 1023] + p[v >> 20 & 1023] + p[v >> 10 & 1023]
        + p[v & 1023]
    )  # fmt: skip


def new_id() -> str:
    """A new id, greater than every id this process made before."""
    global _last_ms, _last_rand, _pool, _pos
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            rand = _last_rand + 1
            if rand >> 80:  # carry: borrow the next millisecond rather than wrap to 0
                ms, rand = ms + 1, 0
        else:
            pos = _pos
            if pos + 10 > len(_pool):
                _pool, pos = os.urandom(_POOL_SIZE), 0
            _pos = pos + 10
            rand = int.from_bytes(_pool[pos : pos + 10], "big")
        _last_ms, _last_rand = ms, rand
    return _encode_id(ms << 80 | rand)


def id_floor(ms: int) -> str:
    """The smallest id of millisecond ``ms``: ``id >= id_floor(t)`` selects ids made
    at ``t`` or later (a range scan of the primary key or an ``(x, id)`` index)."""
    return _encode(max(ms, 0), 10) + "0" * 16
