"""A real registry on loopback for the pull and push tests: Debian's
``docker-registry`` (the CNCF distribution registry), installed by
``scripts/ensure-registry``.

:func:`local_registry` starts one on a free 127.0.0.1 port with its storage in a
temp dir, optionally behind basic auth, and stops it (and removes what it stored)
on exit. The engine treats 127.0.0.0/8 registries as insecure (plain HTTP) by
default, so nothing needs configuring. Images pushed there are removed from the
engine again by :meth:`LocalRegistry.forget`, or at exit.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.docker_support import docker
from tests.server_support import free_port
from tests.waiting import wait_until


@dataclass
class LocalRegistry:
    """A running registry: its ``host`` (``127.0.0.1:PORT``) and credentials."""

    host: str
    dir: Path
    user: str | None = None
    password: str | None = None
    tags: set[str] = field(default_factory=set)

    def ref(self, name: str) -> str:
        """The full reference of ``name`` (``repo:tag``) in this registry."""
        return f"{self.host}/{name}"

    def docker_config(self, password: str | None = None) -> Path:
        """A Docker config.json with this registry's credentials (``password``
        overrides the right one, for the wrong-credentials tests)."""
        secret = password if password is not None else self.password
        path = self.dir / f"config-{secret}.json"
        auth = base64.b64encode(f"{self.user}:{secret}".encode()).decode()
        path.write_text(json.dumps({"auths": {self.host: {"auth": auth}}}))
        return path

    def push(self, local: str, name: str) -> str:
        """Tag the local image ``local`` as ``name`` here and push it; the reference."""
        ref = self.ref(name)
        docker("tag", local, ref)
        self.tags.add(ref)
        args = ["push", ref]
        if self.user:
            config = self.docker_config().parent / "push-config"
            config.mkdir(exist_ok=True)
            (config / "config.json").write_text(self.docker_config().read_text())
            args = ["--config", str(config), *args]
        docker(*args)
        return ref

    def has(self, name: str) -> bool:
        """True if the registry holds ``name`` (``repo:tag``)."""
        repo, _, tag = name.partition(":")
        req = urllib.request.Request(
            f"http://{self.host}/v2/{repo}/manifests/{tag or 'latest'}",
            method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        if self.user:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=5):
                return True
        except urllib.error.HTTPError:
            return False

    def forget(self, ref: str) -> None:
        """Remove ``ref`` from the engine (not from the registry)."""
        docker("rmi", "--force", ref, check=False)


def _up(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=1):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # up, and asking for credentials
    except OSError:
        return False


@contextlib.contextmanager
def local_registry(user: str | None = None, password: str | None = None) -> Iterator[LocalRegistry]:
    """Run a registry on loopback for the duration of the block."""
    with tempfile.TemporaryDirectory(prefix="hotfn-registry-") as tmp:
        root = Path(tmp)
        host = f"127.0.0.1:{free_port()}"
        config = [
            "version: 0.1",
            "log: {level: warn}",
            f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, "
            "delete: {enabled: true}}",
            f"http: {{addr: {host}}}",
        ]
        if user:
            htpasswd = subprocess.run(
                ["htpasswd", "-Bbn", user, password or ""], check=True, capture_output=True
            ).stdout
            (root / "htpasswd").write_bytes(htpasswd)
            config.append(f"auth: {{htpasswd: {{realm: hotfn-test, path: {root / 'htpasswd'}}}}}")
        (root / "config.yml").write_text("\n".join(config) + "\n")
        with open(root / "registry.log", "wb") as out:
            proc = subprocess.Popen(
                ["docker-registry", "serve", str(root / "config.yml")],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        registry = LocalRegistry(host, root, user, password)
        try:
            wait_until(lambda: _up(host) or proc.poll() is not None, within_s=20)
            if proc.poll() is not None:
                raise RuntimeError(
                    f"docker-registry exited: {(root / 'registry.log').read_text()[-2000:]}"
                )
            yield registry
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for ref in registry.tags:
                registry.forget(ref)
