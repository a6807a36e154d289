"""The socket directory of a hot container (``/tmp/iofs`` inside it), bounded.

The agent makes one host directory per container, the engine bind-mounts it at
``/tmp/iofs``, and the agent connects to the FDK's socket in it from the host side:
the host must see the socket, so a Docker ``tmpfs`` mount (visible only inside the
container) cannot replace the bind mount. Instead, as Fn does, a small tmpfs is
mounted on the host directory itself before the container starts (``IOFS_SIZE``,
1 MiB): a function writing there fills that much memory, counted against nothing
else, and never the host's disk.

Mounting needs ``CAP_SYS_ADMIN`` (a server running as root has it). Without it the
directory stays a plain one on the data dir's filesystem, and a warning says so
once; the function can then fill that filesystem (docs/agent.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("hotfn.agent")

IOFS_SIZE = "1m"  # Fn's size for its iofs tmpfs
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_MNT_DETACH = 2
_libc: ctypes.CDLL | None = None
_warned = False


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _libc


def make(path: Path, bounded: bool = True) -> bool:
    """Create ``path`` (mode 0777: the FDK runs unprivileged and binds there) with a
    ``IOFS_SIZE`` tmpfs on it when ``bounded`` and possible; True if mounted."""
    global _warned
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    if not bounded:
        return False
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    data = f"size={IOFS_SIZE},mode=0777".encode()
    if _c().mount(b"tmpfs", os.fsencode(path), b"tmpfs", flags, data) == 0:
        return True
    if not _warned:
        _warned = True
        err = ctypes.get_errno()
        log.warning(
            "the socket directories of hot containers are not size-bounded: mounting a "
            "%s tmpfs on %s failed (%s; it needs CAP_SYS_ADMIN, e.g. a root server)",
            IOFS_SIZE,
            path,
            os.strerror(err),
        )
    return False


def remove(path: Path) -> None:
    """Unmount (if mounted) and delete ``path``; never raises."""
    _c().umount2(os.fsencode(path), _MNT_DETACH)  # EINVAL when not a mount point: fine
    shutil.rmtree(path, ignore_errors=True)


def unmount_under(base: Path) -> int:
    """Unmount every mount below ``base`` (leftovers of a server that died);
    returns how many."""
    prefix = os.fsencode(base.resolve()) + b"/"
    try:
        lines = Path("/proc/self/mounts").read_bytes().splitlines()
    except OSError:
        return 0
    count = 0
    for line in lines:
        fields = line.split()
        if len(fields) > 1:
            # Mount points are octal-escaped in /proc/self/mounts (\040 for a space).
            point = fields[1].decode("unicode_escape").encode("latin-1")
            if point.startswith(prefix) and _c().umount2(point, _MNT_DETACH) == 0:
                count += 1
    return count
