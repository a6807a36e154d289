"""A hot function (hotfn's FDK) that misbehaves as its request body asks.

id            {"host": ..., "pid": ...}: which container answered
sleep:<s>     sleeps, then answers "slept"
hang          never answers
spew          prints to stdout without end, never answers
forkbomb      forks until the pids limit stops it, for ever
memhog        allocates (and touches) memory until the OOM killer comes
diskfill      writes /tmp until it is full, then fails with the error
iofsfill      writes /tmp/iofs (the socket directory) until it is full: how far it got
probe:<port>  reports what the container can see and do (security probe)
anything else is echoed
"""

import os
import socket
import time


def _forkbomb():
    while True:
        try:
            os.fork()  # parent and child both carry on forking
        except OSError:
            time.sleep(0.01)  # EAGAIN at the pids limit: try again, for ever


def _memhog():
    hog = []
    while True:
        hog.append(b"x" * (8 << 20))  # touches every page


def _diskfill():
    chunk = b"d" * (1 << 20)
    written = 0
    with open("/tmp/fill", "wb") as f:
        while True:
            f.write(chunk)
            f.flush()
            written += len(chunk)


def _iofsfill():
    """Write the socket directory full; how far it got and why it stopped."""
    chunk = b"i" * 65536
    written = 0
    try:
        with open("/tmp/iofs/fill", "wb") as f:
            while written < (256 << 20):
                f.write(chunk)
                f.flush()
                written += len(chunk)
    except OSError as exc:
        return {"written": written, "error": exc.strerror}
    finally:
        os.unlink("/tmp/iofs/fill")
    return {"written": written, "error": None}


def _try_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        os.unlink(path)
        return "ok"
    except OSError as exc:
        return exc.strerror


def _connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return "connected"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def _probe(port):
    status = dict(
        line.split(":\t", 1)
        for line in open("/proc/self/status").read().splitlines()
        if ":\t" in line
    )
    return {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": os.getgroups(),
        "CapEff": status["CapEff"].strip(),
        "CapPrm": status["CapPrm"].strip(),
        "CapBnd": status["CapBnd"].strip(),
        "NoNewPrivs": status["NoNewPrivs"].strip(),
        "write_root": _try_write("/probe"),
        "write_usr": _try_write("/usr/probe"),
        "write_tmp": _try_write("/tmp/probe"),
        "visible": [
            p
            for p in (
                "/var/run/docker.sock",
                "/run/docker.sock",
                "/work",
                "/var/lib/docker",
                "/root/.bash_history",
                "/usr/bin/docker",
                "/usr/bin/dockerd",
            )
            if os.path.exists(p)
        ],
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "connect_host_port": _connect("127.0.0.1", port),
        "connect_outside": _connect("192.0.2.1", 80),  # TEST-NET-1: never a real host
        "mounts": open("/proc/self/mounts").read(),
    }


def handler(ctx, data):
    text = data.decode(errors="replace")
    if text == "id":
        return {"host": socket.gethostname(), "pid": os.getpid()}
    if text.startswith("sleep:"):
        time.sleep(float(text[6:]))
        return "slept"
    if text == "hang":
        while True:
            time.sleep(1)
    if text == "spew":  # endless stdout (the container's log), never an answer
        line = "x" * 200
        while True:
            print(line, flush=True)
    if text == "forkbomb":
        _forkbomb()
    if text == "memhog":
        _memhog()
    if text == "diskfill":
        _diskfill()
    if text == "iofsfill":
        return _iofsfill()
    if text == "env":
        return dict(os.environ)
    if text.startswith("exists:"):
        return {"exists": os.path.exists(text[7:])}
    if text.startswith("probe:"):
        return _probe(int(text[6:]))
    return data
