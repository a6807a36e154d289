"""Wait for a hot container's socket: ``lsnr.sock`` appearing in its iofs directory.

On Linux this uses inotify (through ctypes, no dependency) on the directory, so the
agent learns about the symlink the moment the FDK creates it — no polling delay on
the cold-start path. Elsewhere (or if inotify is unavailable) it falls back to
polling every few milliseconds.

The FDK binds a *different* name, then makes ``lsnr.sock`` a relative symlink to it
(design.md §2); the container is ready when ``lsnr.sock`` is a symlink whose target
is in the same directory and resolves to a socket. Anything else is an init failure.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import os
import stat
import struct
from pathlib import Path

from hotfn.errors import ContainerInitFailed

SOCKET_NAME = "lsnr.sock"

_IN_CREATE = 0x100
_IN_MOVED_TO = 0x80
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_EVENT_HEADER = struct.Struct("iIII")
_POLL_INTERVAL = 0.005

_libc: ctypes.CDLL | None = None
_inotify_ok = True


def _load_libc() -> ctypes.CDLL | None:
    global _libc, _inotify_ok
    if _libc is None and _inotify_ok:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            _libc.inotify_init1  # noqa: B018 - probe: raises AttributeError off Linux
        except (OSError, AttributeError):
            _inotify_ok = False
            _libc = None
    return _libc


def check_socket(directory: Path, name: str = SOCKET_NAME) -> Path | None:
    """The socket path if ``name`` (``lsnr.sock``) is ready; None if not there yet.

    Raises ``ContainerInitFailed`` if it exists but breaks the contract.
    """
    link = directory / name
    try:
        st = os.lstat(link)
    except FileNotFoundError:
        return None
    expected = (
        f"expected {name} in /tmp/iofs to be a relative symlink to a unix socket "
        "in the same directory (the http-stream contract)"
    )
    if not stat.S_ISLNK(st.st_mode):
        raise ContainerInitFailed(f"container init failed: {expected}; found a non-symlink")
    target = os.readlink(link)
    if "/" in target:
        raise ContainerInitFailed(
            f"container init failed: {expected}; found a symlink to {target!r}"
        )
    try:
        if not stat.S_ISSOCK(os.stat(directory / target).st_mode):
            raise ContainerInitFailed(
                f"container init failed: {expected}; {target!r} is not a socket"
            )
    except FileNotFoundError:
        raise ContainerInitFailed(
            f"container init failed: {expected}; {target!r} does not exist"
        ) from None
    return link


class _Inotify:
    """One inotify descriptor watching one directory, read through the event loop."""

    def __init__(self, directory: Path, name: str = SOCKET_NAME) -> None:
        self.name = name.encode()
        libc = _load_libc()
        if libc is None:
            raise OSError(errno.ENOSYS, "inotify unavailable")
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.fd = fd
        if libc.inotify_add_watch(fd, os.fsencode(directory), _IN_CREATE | _IN_MOVED_TO) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, "inotify_add_watch failed")
        self.event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT_HEADER.size <= len(data):
            _wd, _mask, _cookie, length = _EVENT_HEADER.unpack_from(data, offset)
            start = offset + _EVENT_HEADER.size
            name = data[start : start + length].rstrip(b"\0")
            offset = start + length
            if name == self.name:
                self.event.set()

    def close(self) -> None:
        self._loop.remove_reader(self.fd)
        os.close(self.fd)


async def wait_for_socket(directory: Path, name: str = SOCKET_NAME) -> Path:
    """Return the socket path once the container is ready (cancel to give up).

    ``name`` is ``lsnr.sock`` (the hot contract) or, for a warm generic container,
    the generic loader's ``generic.sock`` (same phony-socket-and-symlink handshake).
    """
    try:
        watch: _Inotify | None = _Inotify(directory, name)
    except OSError:
        watch = None
    try:
        # Check after the watch exists: the symlink may have appeared before it.
        while (path := check_socket(directory, name)) is None:
            if watch is not None:
                await watch.event.wait()
                watch.event.clear()
            else:
                await asyncio.sleep(_POLL_INTERVAL)
        return path
    finally:
        if watch is not None:
            watch.close()
