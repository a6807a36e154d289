"""A default-format function: reads all stdin, then (after stdin closed) writes a
lot to stdout, some to stderr, and exits with the code the body asks for."""

import sys
import time

data = sys.stdin.buffer.read()
text = data.decode()
if text.startswith("big:"):
    time.sleep(0.2)  # output arrives well after stdin was closed
    size = int(text[4:])
    chunk = b"y" * 65536
    for _ in range(size // len(chunk)):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.write(b"y" * (size % len(chunk)))
elif text.startswith("exit:"):
    sys.stdout.write("partial")
    print("went wrong", file=sys.stderr)
    sys.exit(int(text[5:]))
elif text.startswith("sleep:"):
    time.sleep(float(text[6:]))
else:
    sys.stdout.write("cold:" + text)
