"""Images for the hotwrap-anywhere tests (issue 10): /hotwrap in images that have
no python3 at all, down to ``FROM scratch`` with one static program.

- :func:`node_without_python`: hotfn/base with Debian's python3 packages purged
  (node stays), the stand-in for ``node:8-alpine`` and any slim or distroless image.
- :func:`busybox_static`: Debian's ``busybox-static`` executable, fetched once with
  ``apt-get download`` and cached under ``~/.cache/hotfn-test``.
- :data:`HOTWRAP_DOCKERFILE`: this checkout's build/hotwrap/amd64/hotwrap, alone.
- :func:`scratch_dockerfile`: ``FROM scratch`` + /hotwrap + /bin/busybox, nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.docker_support import BASE_IMAGE

PYTHON_PACKAGES = (
    "python3 python3.11 python3-minimal python3.11-minimal "
    "libpython3-stdlib libpython3.11-stdlib libpython3.11-minimal"
)
NODE_WITHOUT_PYTHON = f"""\
FROM {BASE_IMAGE}
# No python3 left: the old Python /hotwrap could not run here, the binary must.
RUN dpkg --purge --force-depends {PYTHON_PACKAGES} >/dev/null \\
 && ! command -v python3 && ! ls /usr/bin/python3* 2>/dev/null && node --version
"""
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hotfn-test"


def busybox_static() -> Path:
    """Debian's static busybox (``busybox-static``), downloaded once and cached."""
    target = CACHE / "busybox-static" / "busybox"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(prefix="hotfn-busybox-") as tmp:
        os.chmod(tmp, 0o777)  # apt downloads as _apt where it can
        for argv in (["apt-get", "download", "busybox-static"],):
            done = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, check=False,
                                  stdin=subprocess.DEVNULL)  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(
                    f"cannot fetch Debian's busybox-static ({' '.join(argv)}): {done.stderr}"
                    "\n(run apt-get update first)"
                )
        (deb,) = Path(tmp).glob("busybox-static_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), f"{tmp}/x"], check=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        shutil.copy2(f"{tmp}/x/bin/busybox", partial)
        partial.replace(target)
    return target


# The binary of this checkout as an image of its own: hotfn/hotwrap:latest is one
# tag on a shared engine, which a build of another checkout may retag meanwhile.
HOTWRAP_DOCKERFILE = "FROM scratch\nCOPY hotwrap /hotwrap\n"


def scratch_dockerfile(cmd: list[str], hotwrap: str) -> str:
    """``FROM scratch`` holding only /hotwrap (from the image ``hotwrap``) and
    /bin/busybox (build context: the ``busybox`` file); ``cmd`` is the exec-form CMD."""
    return (
        f"FROM {hotwrap} AS hotwrap\n"
        "FROM scratch\n"
        "COPY --from=hotwrap /hotwrap /hotwrap\n"
        "COPY busybox /bin/busybox\n"
        'ENTRYPOINT ["/hotwrap"]\n'
        f"CMD {json.dumps(cmd)}\n"
    )


# Per call, by the first line of the body: "sleep" leaves a background process and
# hangs (for the deadline), "fail" writes stderr and exits 3, "created" sets the
# status and headers through $FN_RESPONSE_HEADERS_FILE; anything else is greeted.
TOOL_SCRIPT = """\
read -r what
case "$what" in
  sleep) sleep 300 & sleep 300 ;;
  fail) echo "first err line" >&2; echo "bad thing happened to $FN_CALL_ID" >&2; exit 3 ;;
  created) printf 'Status: 201\\nLocation: /items/7\\nX-Made-By: hotwrap\\n' \\
             > "$FN_RESPONSE_HEADERS_FILE"; echo created ;;
  *) echo "hello $what" ;;
esac
"""
TOOL_CMD = ["/bin/busybox", "sh", "-c", TOOL_SCRIPT]
# Arguments that a re-splitting or quoting bug would change.
ARGS = ["a b", "it's", '"double"', "", "  two  spaces  ", "$HOME", "*", "--mode", "\\n"]
ARGV_CMD = [
    "/bin/busybox", "sh", "-c", 'for a in "$@"; do printf "<%s>" "$a"; done', "sh", *ARGS,
]  # fmt: skip
