"""The reference example (``examples/reference``) on a real ``hotfn start`` server and
the real engine.

Images are built from the example's own files: its ``func.js`` and its Dockerfile
text with only the two image names no registry can give here replaced by local ones
(``node:8-alpine`` → ``hotfn/base:latest``, ``fnproject/hotwrap:latest`` →
``hotfn/hotwrap:latest``). The FDK variant is hotfn's own ``examples/hello``
(``Dockerfile.fdk`` + ``func.py``); the Node FDK variant is the example's ``fdk/``
as ``hotfn build`` builds it. Tags are unique to the session and removed at
its end, after the server (and with it every container it made) has stopped.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.docker_support import (
    build_image,
    containers_with,
    docker,
    ensure_images,
    remove_containers_with,
)
from tests.e2e.hotwrap_images import (
    ARGV_CMD,
    HOTWRAP_DOCKERFILE,
    NODE_WITHOUT_PYTHON,
    TOOL_CMD,
    busybox_static,
    scratch_dockerfile,
)
from tests.e2e.reference import EXAMPLE, HELLO, localized_dockerfile, node_fdk_build
from tests.hotwrap.conftest import hotwrap_binary
from tests.server_support import ServerProcess

Obj = dict[str, Any]


@dataclass(frozen=True)
class ReferenceImages:
    default: str  # Dockerfile.default: node ./func.js per call (format: default)
    hotwrap: str  # Dockerfile.hotwrap: /hotwrap with CMD node ./func.js (hot)
    fdk: str  # examples/hello/Dockerfile.fdk: func.py on hotfn's Python FDK (hot)
    node_fdk: str  # examples/reference/fdk: func.js as a handler on Fn's Node FDK (hot)


@pytest.fixture(scope="session")
def reference_images() -> Iterator[ReferenceImages]:
    ensure_images()
    tag = "s" + secrets.token_hex(4)
    func_js = {"func.js": EXAMPLE / "func.js"}
    images = ReferenceImages(
        default=build_image(
            f"hotfn-e2e/ref-default:{tag}", localized_dockerfile("Dockerfile.default"), func_js
        ),
        hotwrap=build_image(
            f"hotfn-e2e/ref-hotwrap:{tag}", localized_dockerfile("Dockerfile.hotwrap"), func_js
        ),
        fdk=build_image(
            f"hotfn-e2e/ref-fdk:{tag}",
            (HELLO / "Dockerfile.fdk").read_text(),
            {"func.py": HELLO / "func.py"},
        ),
        node_fdk=build_image(f"hotfn-e2e/ref-node-fdk:{tag}", *node_fdk_build()),
    )
    yield images
    for image in (images.default, images.hotwrap, images.fdk, images.node_fdk):
        docker("rmi", "-f", image, check=False)
    left = docker("image", "ls", "-q", f"--filter=reference=hotfn-e2e/*:{tag}").split()
    assert not left, f"images left behind: {left}"


@dataclass(frozen=True)
class AnywhereImages:
    """Hot functions on images without python3 (tests/e2e/hotwrap_images.py)."""

    hotwrap: str  # FROM scratch: this checkout's /hotwrap only
    node_without_python: str  # hotfn/base less every python3 package
    reference: str  # the example's Dockerfile.hotwrap on node_without_python
    tool: str  # FROM scratch: /hotwrap + busybox running TOOL_SCRIPT per call
    argv: str  # FROM scratch: /hotwrap + busybox printing its ARGS


@pytest.fixture(scope="session")
def anywhere_images() -> Iterator[AnywhereImages]:
    ensure_images()
    tag = "s" + secrets.token_hex(4)
    busybox = {"busybox": busybox_static()}
    hotwrap = build_image(
        f"hotfn-e2e/hotwrap:{tag}", HOTWRAP_DOCKERFILE, {"hotwrap": Path(hotwrap_binary())}
    )
    node = build_image(f"hotfn-e2e/node-without-python:{tag}", NODE_WITHOUT_PYTHON)
    tool, argv = scratch_dockerfile(TOOL_CMD, hotwrap), scratch_dockerfile(ARGV_CMD, hotwrap)
    images = AnywhereImages(
        hotwrap=hotwrap,
        node_without_python=node,
        reference=build_image(
            f"hotfn-e2e/ref-hotwrap-nopython:{tag}",
            localized_dockerfile("Dockerfile.hotwrap", base=node, hotwrap=hotwrap),
            {"func.js": EXAMPLE / "func.js"},
        ),
        tool=build_image(f"hotfn-e2e/scratch-tool:{tag}", tool, busybox),
        argv=build_image(f"hotfn-e2e/scratch-argv:{tag}", argv, busybox),
    )
    yield images
    for image in (images.reference, images.tool, images.argv, node, hotwrap):
        docker("rmi", "-f", image, check=False)
    left = docker("image", "ls", "-q", f"--filter=reference=hotfn-e2e/*:{tag}").split()
    assert not left, f"images left behind: {left}"


class E2E:
    """A client of one real server, with helpers to deploy and inspect functions."""

    def __init__(self, server: ServerProcess, instance: str, client: httpx.Client) -> None:
        self.server = server
        self.instance = instance
        self.http = client

    def deploy(self, image: str, *, fmt: str, trigger: str | None = None, **fields: Any) -> Obj:
        """A new app with one fn (and an HTTP trigger at ``trigger``); ``fields``
        are more of the fn's fields (``timeout=2``)."""
        app = self.ok(self.http.post("/v2/apps", json={"name": "ref-" + secrets.token_hex(4)}))
        fn_body = {"name": "hello", "app_id": app["id"], "image": image, "format": fmt, **fields}
        fn = self.ok(self.http.post("/v2/fns", json=fn_body))
        fn["app_name"] = app["name"]
        if trigger is not None:
            body = {"name": "hello", "app_id": app["id"], "fn_id": fn["id"], "type": "http",
                    "source": trigger}  # fmt: skip
            self.ok(self.http.post("/v2/triggers", json=body))
        return fn

    @staticmethod
    def ok(resp: httpx.Response) -> Obj:
        assert resp.status_code == 200, resp.text
        out: Obj = resp.json()
        return out

    def calls(self, fn_id: str) -> dict[str, Obj]:
        """The fn's call records by id."""
        items = self.ok(self.http.get(f"/v2/fns/{fn_id}/calls", params={"per_page": 100}))
        return {rec["id"]: rec for rec in items["items"]}

    def containers(self, fn_id: str) -> list[str]:
        """The fn's containers on the engine (running or not)."""
        return containers_with({"io.hotfn.instance": self.instance, "io.hotfn.fn": fn_id})

    def inspect(self, container_id: str) -> Obj:
        """Whether the container runs, and the server instance that made it."""
        out = docker(
            "inspect", "-f",
            '{{.State.Running}} {{ index .Config.Labels "io.hotfn.instance" }}', container_id,
        ).split()  # fmt: skip
        return {"running": out[0] == "true", "instance": out[1] if len(out) > 1 else None}

    def wait_no_containers(self, fn_id: str, timeout: float = 15.0) -> list[str]:
        give_up = time.monotonic() + timeout
        while (left := self.containers(fn_id)) and time.monotonic() < give_up:
            time.sleep(0.1)
        return left


@pytest.fixture(scope="session")
def e2e(
    reference_images: ReferenceImages, make_server: Callable[..., ServerProcess]
) -> Iterator[E2E]:
    """A ``hotfn start`` server on SQLite (network ``none``) with its own instance
    label; at the end it is stopped and must have removed all its containers."""
    ensure_images()
    data = Path(tempfile.mkdtemp(prefix="hotfn-e2e-"))
    instance = "e2e" + secrets.token_hex(4)
    labels = {"io.hotfn.instance": instance}
    try:
        server = make_server(f"sqlite:///{data / 'hotfn.db'}", data / "server",
                             HOTFN_INSTANCE=instance, HOTFN_NETWORK="none")  # fmt: skip
        try:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                yield E2E(server, instance, client)
        finally:
            code = server.stop()
            left = containers_with(labels)
            remove_containers_with(labels)
            # 130: ended by SIGINT (Ctrl-C), as the durability tests accept too.
            assert code in (0, 130), f"server exited with {code}:\n{server.log()}"
            assert not left, f"the server left containers behind: {left}"
    finally:
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(Path("/tmp") / f"hotfn-iofs-{instance}", ignore_errors=True)
