"""Per-call bookkeeping: call ids, deadlines, the bounded log buffer.

Everything here runs on the hot path of every call, so it is kept to a few
microseconds: logs are appended to a
bounded ``bytearray`` only when the function writes something.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from hotfn.store.ids import new_id


def new_call_id() -> str:
    """A 26-character, time-sortable id (``hotfn.store.ids``: ULID layout, monotonic)."""
    return new_id()


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """``2026-11-29T11:54:51.123Z``. Milliseconds, not Fn's whole seconds: truncating
    would give the function up to a second less than its timeout."""
    # isoformat is C (strftime and an f-string cost ~5x more, on every call).
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


# The last whole second written as a deadline, as one tuple (never torn):
# (Unix second, "YYYY-MM-DDTHH:MM:SS").
_last_second: tuple[int, str] = (-1, "")


def deadline_after(seconds: float) -> str:
    """``rfc3339`` of now plus ``seconds``: every call's ``Fn-Deadline``. From
    ``time.time()``, with the part up to the second formatted once per second (a
    datetime, a timedelta and isoformat cost 3-4x more, on every call)."""
    global _last_second
    at = time.time() + seconds
    second = int(at)
    last = _last_second
    if last[0] != second:
        last = _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    # Milliseconds truncated, as isoformat(timespec="milliseconds") does.
    return f"{last[1]}.{min(int((at - second) * 1000), 999):03d}Z"


class CallLog:
    """The lines a function wrote during one call, bounded to ``limit`` bytes.

    Lines past the limit are dropped and counted, so a chatty function cannot eat the
    server's memory or the store; the text ends with a note saying how much was cut.
    """

    __slots__ = ("_buf", "dropped", "limit")

    def __init__(self, limit: int) -> None:
        self._buf = bytearray()
        self.limit = limit
        self.dropped = 0

    def add(self, stream: str, line: str) -> None:
        data = f"{stream}: {line}\n".encode(errors="replace")
        if len(self._buf) + len(data) > self.limit:
            self.dropped += len(data)
            return
        self._buf += data

    def add_bytes(self, stream: str, data: bytes) -> None:
        """Add a block of output (e.g. a cold container's stderr) line by line."""
        for line in data.decode(errors="replace").splitlines():
            self.add(stream, line)

    def __bool__(self) -> bool:
        return bool(self._buf) or self.dropped > 0

    def text(self) -> str:
        out = self._buf.decode(errors="replace")
        if self.dropped:
            out += f"[hotfn: {self.dropped} more bytes of log dropped (limit {self.limit})]\n"
        return out
