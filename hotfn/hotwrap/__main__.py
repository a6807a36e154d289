"""``hotwrap [OPTIONS] [--] COMMAND [ARG...]``: serve COMMAND on the hot contract.

Options (each also settable in the environment, e.g. through the fn's config):
  --mode exec|lines     exec (default): run COMMAND per call;
                        lines: keep one COMMAND running, one line in, one line out
                        (HOTWRAP_MODE)
  --buffer BYTES        exec mode: output held back to decide 200 vs 502 before
                        streaming (default 1048576; HOTWRAP_BUFFER_BYTES)
  --content-type TYPE   Content-Type of successful answers (default
                        application/octet-stream; HOTWRAP_CONTENT_TYPE)

With FN_FORMAT=default and no FN_LISTENER (the cold contract), hotwrap simply
execs COMMAND.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

from hotfn.fdk import server
from hotfn.fdk.response import OCTET_STREAM
from hotfn.hotwrap import HOTWRAP_VERSION
from hotfn.hotwrap.calls import DEFAULT_BUFFER, ExecHandler
from hotfn.hotwrap.lines import LinesHandler

if TYPE_CHECKING:
    from collections.abc import Mapping

USAGE = (
    "usage: hotwrap [--mode exec|lines] [--buffer BYTES] [--content-type TYPE] [--] "
    "COMMAND [ARG...]"
)


class UsageError(Exception):
    """The command line cannot be used; the message says why."""


class Options:
    """hotwrap's settings: the command line wins over the environment."""

    def __init__(self, argv: list[str], env: Mapping[str, str]) -> None:
        self.mode = env.get("HOTWRAP_MODE", "exec")
        buffer = env.get("HOTWRAP_BUFFER_BYTES", str(DEFAULT_BUFFER))
        self.content_type = env.get("HOTWRAP_CONTENT_TYPE", OCTET_STREAM)
        args = list(argv)
        # Options come before the command only: the command's own arguments
        # (even ones starting with "--") are never touched.
        while args and args[0].startswith("--"):
            option = args.pop(0)
            if option == "--":
                break
            name, eq, value = option.partition("=")
            if name not in ("--mode", "--buffer", "--content-type"):
                raise UsageError(f"unknown option {option}")
            if not eq:
                if not args:
                    raise UsageError(f"{name} needs a value")
                value = args.pop(0)
            if name == "--mode":
                self.mode = value
            elif name == "--buffer":
                buffer = value
            else:
                self.content_type = value
        if self.mode not in ("exec", "lines"):
            raise UsageError(f"unknown mode {self.mode!r}: use exec or lines")
        if not buffer.isdigit():
            raise UsageError(f"the buffer size must be a number of bytes, not {buffer!r}")
        self.buffer = int(buffer)
        if not args:
            raise UsageError("no command given (set the image's CMD)")
        self.command = command_argv(args)


def command_argv(args: list[str]) -> list[str]:
    """The argv to run. A lone argument with spaces that names no file is a shell
    command line (``CMD ["node ./func.js"]``); otherwise argv is used as given,
    never re-split (a shell-form CMD already arrives as ``/bin/sh -c "..."``)."""
    if len(args) == 1 and any(c.isspace() for c in args[0]) and not os.path.exists(args[0]):
        return ["/bin/sh", "-c", args[0]]
    return args


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``/hotwrap`` and ``python3 -m hotfn.hotwrap``."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return
    if args and args[0] == "--version":
        print(HOTWRAP_VERSION)
        return
    try:
        options = Options(args, os.environ)
    except UsageError as exc:
        sys.exit(f"hotwrap: {exc}\n{USAGE}")
    program = options.command[0]
    if shutil.which(program) is None:
        sys.exit(f"hotwrap: command not found or not executable: {program!r}")
    if os.environ.get("FN_FORMAT") == "default" and not os.environ.get("FN_LISTENER"):
        # Run cold (one container per call, body on stdin): nothing to wrap, so the
        # same image serves a fn whether its format is http-stream or default.
        os.execvp(program, options.command)
    handler: ExecHandler | LinesHandler
    if options.mode == "lines":
        handler = LinesHandler(options.command, content_type=options.content_type)
    else:
        handler = ExecHandler(
            options.command, buffer_limit=options.buffer, content_type=options.content_type
        )
    base_headers = [("Fn-Fdk-Version", HOTWRAP_VERSION)]
    server.run(handler, base_headers, prog="hotwrap", on_start=handler.start, on_stop=handler.stop)


if __name__ == "__main__":
    main()
