"""hotwrap: make any command a hot function.

hotwrap is a container's ENTRYPOINT; the container's CMD is the command. It
implements Fn's hot contract (design.md §2) and, per call, runs the command with
the body on stdin and answers with its stdout: exit 0 → 200, non-zero → 502 (with
the exit status and the end of stderr), past the deadline → the process group is
killed and the answer is 504. See docs/hotwrap.md.

Standard library only (Python 3.8+): it ships as one executable zipapp,
``/hotwrap`` in the ``hotfn/hotwrap`` image.
"""

from __future__ import annotations

from hotfn import __version__

HOTWRAP_VERSION = f"hotfn-hotwrap/{__version__}"
DEFAULT_IMAGE = "hotfn/hotwrap:latest"

__all__ = ["DEFAULT_IMAGE", "HOTWRAP_VERSION", "hotwrap_snippet"]


def hotwrap_snippet(image: str = DEFAULT_IMAGE, command: str = "node ./func.js") -> str:
    """The Dockerfile lines that make an image's command a hot function.

    Add them at the end of a Dockerfile whose image has ``python3`` (3.8 or later);
    ``command`` becomes the CMD (shell form here; the exec form works as well).
    """
    return (
        "# Serve the command below as a hot function (hotfn hotwrap; needs python3 >= 3.8)\n"
        f"COPY --from={image} /hotwrap /hotwrap\n"
        'ENTRYPOINT ["/hotwrap"]\n'
        f"CMD {command}\n"
    )
