"""hotfn's Python FDK: write a function as ``handler(ctx, data)`` and serve it hot.

::

    from hotfn import fdk

    def handler(ctx: fdk.Context, data: bytes):
        return {"hello": data.decode() or "world", "call": ctx.call_id}

    if __name__ == "__main__":
        fdk.handle(handler)

or, without the ``__main__`` block: ``python3 -m hotfn.fdk func.py:handler``.

It speaks Fn's hot contract (http-stream over a unix socket, design.md §2), so the
same function runs under hotfn's agent and Fn's. Standard library only, Python 3.8+:
this package is copied into function images. See docs/fdk.md.
"""

from __future__ import annotations

from hotfn.fdk.context import Context
from hotfn.fdk.http11 import Headers
from hotfn.fdk.response import Response
from hotfn.fdk.runtime import FDK_VERSION, handle

__all__ = ["FDK_VERSION", "Context", "Headers", "Response", "handle"]
