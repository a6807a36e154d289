"""A hot function on hotfn's FDK that streams: a generator's pieces go out as yielded.

lines   10 lines 0.5 s apart, each "<n> <time written, s since epoch>"
"""

import time


def handler(ctx, data):
    def lines():
        for i in range(1, 11):
            yield f"{i} {time.time():.6f}\n"
            if i < 10:
                time.sleep(0.5)

    return lines()
