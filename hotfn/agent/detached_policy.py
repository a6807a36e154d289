"""What a detached call's fn asks of its retries (annotations), and the backoff.

- ``hotfn.io/async-retries``: attempts after the first (default 2, as Lambda; 0–20);
- ``hotfn.io/async-max-age``: how long a call may wait for a successful attempt,
  seconds or ``"30s"``, ``"15m"``, ``"6h"``, ``"1d"`` (default 6 h; at most 7 days);
- ``hotfn.io/on-failure``: the id of a fn that receives each call that ends ``failed``,
  with the original body and the reason in ``Fn-Failure-Reason``.

Which errors are retried: a function error or invalid answer (502), a timeout (504)
and too-busy or shutting down (503). A 4xx (the fn was deleted, a body over a limit)
cannot get better by waiting: the call fails at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hotfn.agent.shared import int_setting
from hotfn.errors import HotfnError
from hotfn.types import Target

ANNOTATION_RETRIES = "hotfn.io/async-retries"
ANNOTATION_MAX_AGE = "hotfn.io/async-max-age"
ANNOTATION_ON_FAILURE = "hotfn.io/on-failure"
ATTEMPT_HEADER = "fn-attempt"  # 1 for the first attempt (FN_ATTEMPT in default format)

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 6 * 3600
_MAX_AGE_CEILING_S = 7 * 24 * 3600
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BACKOFF_CAP_S = 300.0


def parse_age(value: object, default: int = DEFAULT_MAX_AGE_S) -> int:
    """An age annotation in seconds: a number, or a number with s, m, h or d."""
    if isinstance(value, str) and value[-1:] in _UNITS:
        head = value[:-1].strip()
        if not head.isdigit():
            return default
        return min(int(head) * _UNITS[value[-1]], _MAX_AGE_CEILING_S)
    return int_setting(value, default, 1, _MAX_AGE_CEILING_S)


@dataclass(frozen=True)
class RetryPolicy:
    retries: int
    max_age_s: int
    on_failure: str | None

    @classmethod
    def of(cls, target: Target) -> RetryPolicy:
        """The fn's policy (its annotation wins over its app's)."""
        on_failure = target.annotation(ANNOTATION_ON_FAILURE)
        return cls(
            retries=int_setting(target.annotation(ANNOTATION_RETRIES), DEFAULT_RETRIES, 0, 20),
            max_age_s=parse_age(target.annotation(ANNOTATION_MAX_AGE)),
            on_failure=on_failure if isinstance(on_failure, str) and on_failure else None,
        )

    @property
    def attempts(self) -> int:
        return 1 + self.retries


def retriable(exc: HotfnError) -> bool:
    return exc.status >= 500


def backoff_s(attempt: int, base_s: float) -> float:
    """Delay before attempt ``attempt + 1``: ``base_s`` doubling per attempt, capped
    at 5 min, with "equal jitter" (half fixed, half random) so calls that failed
    together do not all come back together."""
    delay = min(base_s * 2.0 ** (attempt - 1), _BACKOFF_CAP_S)
    return delay / 2 + random.uniform(0, delay / 2)
