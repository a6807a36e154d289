"""The cluster tests' function (hotfn's FDK), by request body:

sleep:<s>   sleeps, then answers "slept"
greeting    the fn's config GREETING
own503      a 503 of its own, with an X-Accel-Redirect that nginx must never see
anything else is echoed
"""

import os
import time

from hotfn import fdk


def handler(ctx, data):
    text = data.decode(errors="replace")
    if text.startswith("sleep:"):
        time.sleep(float(text[6:]))
        return "slept"
    if text == "greeting":
        return os.environ.get("GREETING", "")
    if text == "own503":
        return fdk.Response(b"own", status=503, headers={"X-Accel-Redirect": "@hotfn_spill"})
    return data
