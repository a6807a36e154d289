"""The server's open-file limit, raised to what the system allows.

Every client connection is a file descriptor, held for as long as the client is
slow (up to ``HOTFN_CLIENT_IDLE_TIMEOUT`` for a stalled upload). Shells and service
managers commonly start processes with a soft ``RLIMIT_NOFILE`` of 1024 and a far
higher hard limit: with 3,000 stalled uploads such a server fails to accept anything
else, and uvloop says nothing about it (measured with ``bench/bench_stalled.py
--server-nofile 1024``: other calls were reset). Raising the soft limit to the hard
one, as Go's runtime and nginx's ``worker_rlimit_nofile`` do, needs no privilege.
"""

from __future__ import annotations

import resource

# Linux refuses a soft limit above fs.nr_open (1048576 by default) even when the hard
# limit is "unlimited".
_UNLIMITED_CAP = 1 << 20


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; (soft before, soft now).

    The limit is left as it was if the system refuses the change."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _UNLIMITED_CAP if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, target
    return soft, soft
