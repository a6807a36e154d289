"""The generic loader: a runtime container started before it knows its function.

``fdk --generic [DIR]`` (DIR defaults to ``/tmp/iofs``) runs in a container of
hotfn's python runtime image that the agent keeps warm. It imports the FDK (the
expensive part of a Python cold start), then waits on ``DIR/generic.sock`` (bound as
``phonygeneric.sock`` + relative symlink, like the hot contract's socket) for exactly
one *specialise* request from the agent: one JSON line

    {"env": {...}, "cwd": "/function", "argv": ["/function/func.py", "handler"]}

It sets the environment (the function image's ``ENV``, app and fn config, ``FN_*``),
changes to ``cwd``, loads the handler named by ``argv`` (what the function image's
``ENTRYPOINT`` passes to ``fdk``), answers ``{"ok": true}`` or
``{"ok": false, "error": "..."}`` (and exits), and then serves the handler on
``FN_LISTENER`` exactly as ``fdk FILE.py HANDLER`` would: the agent's ordinary
readiness path sees ``lsnr.sock`` appear. The function's code is put at ``/function``
by the agent (a per-container bind mount, filled on the host before the request), so
a container only ever holds the code of the one function it was specialised for.

Standard library only, Python 3.8+.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

GENERIC_SOCKET = "generic.sock"
MAX_REQUEST = 1024 * 1024  # bytes of one specialise request (env and config included)
PROG = "hotfn.fdk --generic"


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def listen(directory: str) -> socket.socket:
    """Bind ``phonygeneric.sock``, then publish it as ``generic.sock`` (the agent
    connects only once the symlink exists, so it never sees a half-bound socket)."""
    phony = os.path.join(directory, "phony" + GENERIC_SOCKET)
    link = os.path.join(directory, GENERIC_SOCKET)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(phony)
    os.chmod(phony, 0o666)  # the agent may run as another user
    sock.listen(1)
    os.symlink("phony" + GENERIC_SOCKET, link)
    return sock


def read_request(conn: socket.socket) -> dict[str, Any]:
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError(f"specialise request larger than {MAX_REQUEST} bytes")
    request = json.loads(data.split(b"\n", 1)[0].decode())
    if not isinstance(request, dict):
        raise ValueError("specialise request must be a JSON object")
    return request


def specialise(request: dict[str, Any]) -> object:
    """Become the function ``request`` names; return its handler (not yet checked)."""
    from hotfn.fdk.__main__ import load_handler  # deferred: __main__ imports this module

    env = request.get("env") or {}
    argv = request.get("argv") or []
    if not isinstance(env, dict) or not isinstance(argv, list) or len(argv) not in (1, 2):
        raise ValueError("specialise request needs 'env' (object) and 'argv' (1 or 2 items)")
    os.environ.update({str(k): str(v) for k, v in env.items()})
    # PYTHONPATH is read at interpreter start, which has passed: apply it by hand.
    for entry in reversed(os.environ.get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    cwd = request.get("cwd")
    if cwd:
        os.chdir(str(cwd))
    sys.argv = ["fdk", *[str(a) for a in argv]]
    return load_handler(*[str(a) for a in argv])


def _answer(conn: socket.socket, reply: dict[str, Any]) -> None:
    try:
        conn.sendall(json.dumps(reply).encode() + b"\n")
    except OSError:
        pass
    conn.close()


def main(directory: str = "/tmp/iofs") -> None:
    """Wait for the agent's specialise request, then serve the function it names."""
    from hotfn.fdk.runtime import check_handler, handle

    try:
        sock = listen(directory)
    except OSError as exc:
        sys.exit(f"{PROG}: cannot listen in {directory}: {exc}")
    conn, _ = sock.accept()
    sock.close()
    for name in (GENERIC_SOCKET, "phony" + GENERIC_SOCKET):
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass
    try:
        handler = check_handler(specialise(read_request(conn)))
    except Exception as exc:  # the function's import failed: say why, then go
        _say(f"cannot load the handler: {type(exc).__name__}: {exc}")
        _answer(conn, {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]})
        sys.exit(2)
    _answer(conn, {"ok": True})
    handle(handler)
