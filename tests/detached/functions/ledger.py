"""A hot function (hotfn's FDK) that keeps a ledger of its calls on stderr.

Each call writes ``LEDGER start <call id> <attempt> <time>`` and, if it ends well,
``LEDGER end <call id> <attempt> <time>``, so a test can tell from the function's own
log (``docker logs``) which calls ran, how often and when. Body ``fail`` raises
(HTTP 502, retried); ``sleep:<s>`` sleeps first. A call forwarded by
``hotfn.io/on-failure`` logs ``LEDGER dead <failed call id> <body>`` and succeeds.
"""

import sys
import time


def _note(*parts):
    print("LEDGER", *parts, file=sys.stderr, flush=True)


def handler(ctx, data):
    attempt = ctx.headers.get("fn-attempt", "-")
    text = data.decode(errors="replace")
    _note("start", ctx.call_id, attempt, f"{time.time():.6f}")
    failed = ctx.headers.get("fn-failed-call-id")
    if failed:
        _note("dead", failed, text)
    elif text.startswith("sleep:"):
        time.sleep(float(text[6:]))
    elif text == "fail":
        raise RuntimeError("this function always fails")
    _note("end", ctx.call_id, attempt, f"{time.time():.6f}")
    return text
