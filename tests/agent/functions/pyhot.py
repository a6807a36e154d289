"""A hot Python function (hotfn's FDK) whose behaviour the request body picks."""

import os
import socket
import sys
import time

from hotfn import fdk


def handler(ctx, data):
    text = data.decode()
    if text == "raise":
        raise RuntimeError("boom")
    if text.startswith("sleep:"):
        time.sleep(float(text[6:]))
        return text
    if text == "oom":
        hog = b"x" * (512 * 1024 * 1024)  # touches every page: over any test limit
        return str(len(hog))
    if text == "crash":
        os._exit(3)
    if text.startswith("log:"):
        print(text[4:], file=sys.stderr, flush=True)
        return text
    if text == "whoami":
        return socket.gethostname()
    if text == "env":
        return dict(os.environ)
    if text == "http":
        return fdk.Response(b"made", status=201, headers={"X-Made": "yes"})
    if text == "headers":
        return dict(ctx.headers.items()) if hasattr(ctx.headers, "items") else {}
    return data
