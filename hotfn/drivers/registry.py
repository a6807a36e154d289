"""Registry credentials: which secret, if any, a pull of an image sends.

The rules are Docker's own, so a machine where ``docker pull`` works needs nothing
more for hotfn:

- An image's registry is its first path component when that looks like a host
  (has a ``.`` or a ``:``, or is ``localhost``); otherwise it is Docker Hub.
- Credentials come from a Docker ``config.json``: ``auths`` (``auth`` is base64 of
  ``user:password``, or an ``identitytoken``), ``credHelpers`` per registry and
  ``credsStore`` for the rest (both run ``docker-credential-<name> get``).
- A fn (or its app) may name a credential set with the annotation
  ``hotfn.io/registry-auth: <name>``: the file ``<registry_auth_dir>/<name>.json``,
  in the same format, is used instead of the server's ``config.json``. Only the
  name is stored in the API; the secret stays in the file.

:class:`RegistryAuth` hides its secrets from ``repr`` so that a log line or a
traceback that shows one never shows the password.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from hotfn.errors import ImagePullFailed, InvalidInput

DOCKER_HUB = "docker.io"
# Docker Hub's key in config.json, as `docker login` writes it.
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io")
AUTH_ANNOTATION = "hotfn.io/registry-auth"
_AUTH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def registry_of(image: str) -> str:
    """The registry host (with port) that serves ``image``, as Docker decides it."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def auth_name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as a credential set's name (None: nothing)."""
    if isinstance(name, str) and _AUTH_NAME.fullmatch(name):
        return None
    return (
        f"annotation {AUTH_ANNOTATION} must name a credential set: 1 to 64 letters, "
        f"digits, '_', '.' or '-', starting with a letter or digit (got {name!r})"
    )


def check_auth_name(name: str) -> str:
    """``name`` if it can name a credential file; ``InvalidInput`` otherwise."""
    problem = auth_name_problem(name)
    if problem:
        raise InvalidInput(problem)
    return name


def _host_key(key: str) -> str:
    """A config.json ``auths`` key as a bare host: ``https://h:5000/v2/`` → ``h:5000``."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return DOCKER_HUB if key in _HUB_KEYS or host in _HUB_KEYS else host


@dataclass(frozen=True)
class RegistryAuth:
    """The credentials one pull sends to one registry (secrets not in ``repr``)."""

    registry: str
    username: str = ""
    password: str = field(default="", repr=False)
    identitytoken: str = field(default="", repr=False)

    def engine_auth(self) -> dict[str, str]:
        """The Engine API's ``X-Registry-Auth`` object for this registry."""
        # identitytoken is always present: without it aiodocker replaces
        # serveraddress with the image's first path component.
        return {
            "username": self.username,
            "password": self.password,
            "identitytoken": self.identitytoken,
            "serveraddress": self.registry,
        }


def _from_entry(registry: str, entry: object) -> RegistryAuth | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("identitytoken"):
        return RegistryAuth(registry, identitytoken=str(entry["identitytoken"]))
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return RegistryAuth(registry, user, password)
    if entry.get("username"):
        return RegistryAuth(registry, str(entry["username"]), str(entry.get("password", "")))
    return None


async def _from_helper(helper: str, registry: str) -> RegistryAuth:
    """Ask ``docker-credential-<helper>`` for ``registry``'s secret."""
    server = "https://index.docker.io/v1/" if registry == DOCKER_HUB else registry
    try:
        proc = await asyncio.create_subprocess_exec(
            f"docker-credential-{helper}",
            "get",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise ImagePullFailed(
            f"registry {registry}: credential helper docker-credential-{helper} "
            f"cannot run: {exc.strerror}"
        ) from exc
    out, err = await proc.communicate(server.encode())
    if proc.returncode != 0:
        reason = (out or err).decode(errors="replace").strip()[:200]
        raise ImagePullFailed(
            f"registry {registry}: credential helper docker-credential-{helper} failed: {reason}"
        )
    try:
        data = json.loads(out)
        user, secret = str(data["Username"]), str(data["Secret"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ImagePullFailed(
            f"registry {registry}: credential helper docker-credential-{helper} "
            "answered something other than {Username, Secret}"
        ) from exc
    if user == "<token>":  # Docker's convention for an identity token
        return RegistryAuth(registry, identitytoken=secret)
    return RegistryAuth(registry, user, secret)


async def auth_from_config(path: Path, registry: str) -> RegistryAuth | None:
    """``registry``'s credentials in the Docker config file ``path`` (None: none)."""
    try:
        config = json.loads(await asyncio.to_thread(path.read_text))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ImagePullFailed(f"registry {registry}: cannot read {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise ImagePullFailed(f"registry {registry}: {path} is not a Docker config object")
    helpers = config.get("credHelpers") or {}
    if isinstance(helpers, dict) and registry in helpers:
        return await _from_helper(str(helpers[registry]), registry)
    auths = config.get("auths") or {}
    if isinstance(auths, dict):
        for key, entry in auths.items():
            if _host_key(str(key)) == registry and (found := _from_entry(registry, entry)):
                return found
    if config.get("credsStore"):
        try:
            return await _from_helper(str(config["credsStore"]), registry)
        except ImagePullFailed:
            return None  # a store that has nothing for this registry: pull anonymously
    return None


class Credentials:
    """Finds the credentials for an image: the named set if one is given, else the
    server's Docker config."""

    def __init__(self, docker_config: Path | None, named_dir: Path) -> None:
        self.docker_config = docker_config
        self.named_dir = named_dir

    async def for_image(self, image: str, name: str | None = None) -> RegistryAuth | None:
        """The credentials a pull of ``image`` sends (None: anonymous)."""
        registry = registry_of(image)
        if name:
            path = self.named_dir / f"{check_auth_name(name)}.json"
            if not await asyncio.to_thread(path.is_file):
                raise ImagePullFailed(
                    f"registry {registry}: no credential set {name!r} "
                    f"(annotation {AUTH_ANNOTATION}); create {path} in Docker's "
                    "config.json format"
                )
            found = await auth_from_config(path, registry)
            if found is None:
                raise ImagePullFailed(
                    f"registry {registry}: credential set {name!r} has no entry for it"
                )
            return found
        if self.docker_config is None:
            return None
        return await auth_from_config(self.docker_config, registry)
