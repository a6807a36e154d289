"""Server settings: command-line flags first, then ``HOTFN_*`` environment variables,
then defaults. Everything the server reads from its environment is read here."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from hotfn.errors import InvalidInput

T = TypeVar("T", int, float)


def _env_number(
    name: str, default: T, parse: Callable[[str], T], ok: Callable[[T], bool], what: str
) -> T:
    """``HOTFN_*`` variable ``name`` parsed (``default`` if unset or empty); a value
    that does not parse or is not ``ok`` is one clear error naming the variable."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value is None or not ok(value):  # NaN fails every comparison, so ok() too
        raise InvalidInput(f"{name} must be {what}, not {raw!r}")
    return value


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, lambda v: v >= 0, "a number of 0 or more")


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, lambda v: v >= 0, "a whole number of 0 or more")


def _env_positive(name: str, default: float) -> float:
    return _env_number(name, default, float, lambda v: v > 0, "a number above 0")


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _env_path(name: str) -> Path | None:
    raw = os.environ.get(name)
    return Path(raw) if raw else None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_instance(data_dir: Path) -> str:
    """This server's instance name, kept in its data dir so a restarted server knows
    its own leftover containers (and never touches another server's)."""
    path = data_dir / "instance"
    try:
        name = path.read_text().strip()
        if name:
            return name
    except FileNotFoundError:
        pass
    name = secrets.token_hex(6)
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(name + "\n")
    return name


@dataclass
class Settings:
    """Everything ``hotfn start`` can be told."""

    host: str = "127.0.0.1"
    port: int = 8080
    # A unix socket to listen on instead of host:port (nginx on the same machine:
    # docs/scale-out.md). Who may call is then who may open the socket file.
    uds: Path | None = None
    db_url: str | None = None  # None → SQLite file in data_dir
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("HOTFN_DATA_DIR", "data")))
    public_url: str | None = None  # base of invokeEndpoint / httpEndpoint; else request host
    token: str | None = None  # API token: /v2 and /metrics need "Authorization: Bearer <token>"
    insecure: bool = False  # allow a non-loopback address without a token
    max_api_body: int = 1024 * 1024  # bytes of a /v2 request body
    # Names this server's containers (label) so leftovers of its earlier runs can be
    # found. ``from_env`` leaves it "" unless HOTFN_INSTANCE is set, and ``resolve``
    # then takes the one kept in <data_dir>/instance; Settings() alone gets a random one.
    instance: str = field(default_factory=lambda: secrets.token_hex(6))
    # Agent
    network_mode: str | None = None  # None → Docker's default
    hot_start_timeout: float = 10.0
    drain_timeout: float = 30.0
    memory_budget_mb: int = 0  # 0 → 80 % of the machine's memory
    max_containers_per_fn: int = 0  # 0 → number of CPUs × 2
    max_queue_per_fn: int = 100
    iofs_dir: Path | None = None  # None → <data_dir>/iofs
    # A 1 MiB tmpfs on each socket dir (hotfn/agent/iofs.py; needs CAP_SYS_ADMIN).
    iofs_tmpfs: bool = True
    call_log_max_bytes: int = 64 * 1024
    calls_retention_s: int = 7 * 24 * 3600
    calls_max_per_fn: int = 1000
    # Cold starts (docs/coldstart.md). Warm generic runtime containers kept per
    # runtime (0 = off; `hotfn start` defaults to 2, HOTFN_GENERIC_POOL_SIZE), the
    # memory each reserves until specialised, and the runtime images by name.
    generic_pool_size: int = 0
    generic_memory_mb: int = 128
    generic_images: dict[str, str] = field(
        default_factory=lambda: {"python": "hotfn/python:latest", "node": "hotfn/node:latest"}
    )
    # Keep-alive of idle hot containers: "adaptive" (hybrid histogram, falls back to
    # the fn's idle_timeout without enough history) or "fixed" (idle_timeout only);
    # per fn: annotation hotfn.io/keepalive.
    keepalive_policy: str = "adaptive"
    # Agent (added by the agent): extra labels on every container (tests label theirs),
    # how long a call may wait for a container before 503, the FDK-socket wait.
    container_labels: dict[str, str] = field(default_factory=dict)
    max_queue_wait: float = 60.0
    # Call limits (hotfn/api/limits.py; per fn: annotations hotfn.io/max-body-bytes and
    # hotfn.io/max-response-bytes). Fn's defaults: 6 MiB each way.
    max_call_body: int = 6 * 1024 * 1024  # request body → 413
    max_call_response: int = 6 * 1024 * 1024  # function response body → 502
    max_call_headers: int = 100  # request header fields → 431
    max_call_header_bytes: int = 32 * 1024  # names + values of all of them → 431
    # Slow clients (hotfn/api/relay.py): a request body that sends nothing, or a
    # streamed response the client reads nothing of, for this long is cut (408 / close).
    client_idle_timeout: float = 30.0
    # Images from a registry (docs/registry.md): how long a pull may take, how long a
    # failed pull is not retried, the Docker config.json with credentials (None: the
    # engine client's usual ~/.docker/config.json), the folder of named credential
    # sets (annotation hotfn.io/registry-auth; None: <data_dir>/registry-auth), and
    # how long a pulled image may go unused before it is removed (0: never), and the
    # registries pulls may reach (fnmatch patterns of host[:port]; "*": any, "": none).
    pull_timeout: float = 300.0
    pull_retry_after: float = 10.0
    docker_config: Path | None = None
    registry_auth_dir: Path | None = None
    image_gc_after: float = 0.0
    pull_from: tuple[str, ...] = ("*",)
    # Detached calls (docs/detached.md): largest body (413 over it), open calls the
    # queue may hold (503 + Retry-After past it, 0: no bound), calls run at once per fn
    # (0: number of CPUs) and per server, the claim lease, the safety-net poll and the
    # first retry's backoff (doubling, with jitter).
    max_detached_body: int = 256 * 1024
    detached_queue_max: int = 100_000
    detached_per_fn: int = 0
    detached_max_running: int = 64
    detached_lease_s: float = 30.0
    detached_poll_s: float = 1.0
    detached_backoff_s: float = 1.0
    # Behind nginx (docs/scale-out.md): the named location this server's own 503s
    # (too busy, draining, engine down: the call never reached a function) send
    # nginx to with X-Accel-Redirect, so it spills them to the next node. "" = off.
    spill_to: str = ""
    # Every Docker Engine request has its own bound (drivers/docker_bounds.py:
    # ping 5 s, create 30 s, start 60 s, kill 10 s, remove 20 s...); this scales
    # them all, e.g. 3 for an engine on slow storage.
    engine_timeout_scale: float = 1.0

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.data_dir / 'hotfn.db').resolve()}"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``HOTFN_*`` variables; explicit ``overrides`` (flags) win."""
        s = cls(
            host=os.environ.get("HOTFN_HOST", "127.0.0.1"),
            port=_env_int("HOTFN_PORT", 8080),
            uds=_env_path("HOTFN_UNIX_SOCKET"),
            db_url=os.environ.get("HOTFN_DB_URL") or None,
            public_url=os.environ.get("HOTFN_PUBLIC_URL") or None,
            token=os.environ.get("HOTFN_TOKEN") or None,
            insecure=os.environ.get("HOTFN_INSECURE", "") in ("1", "true", "yes"),
            network_mode=os.environ.get("HOTFN_NETWORK") or None,
            hot_start_timeout=_env_float("HOTFN_HOT_START_TIMEOUT", 10.0),
            generic_pool_size=_env_int("HOTFN_GENERIC_POOL_SIZE", 2),
            generic_memory_mb=_env_int("HOTFN_GENERIC_MEMORY_MB", 128),
            keepalive_policy=os.environ.get("HOTFN_KEEPALIVE") or "adaptive",
            drain_timeout=_env_float("HOTFN_DRAIN_TIMEOUT", 30.0),
            memory_budget_mb=_env_int("HOTFN_MEMORY_BUDGET_MB", 0),
            max_containers_per_fn=_env_int("HOTFN_MAX_CONTAINERS_PER_FN", 0),
            max_queue_per_fn=_env_int("HOTFN_MAX_QUEUE_PER_FN", 100),
            max_queue_wait=_env_float("HOTFN_MAX_QUEUE_WAIT", 60.0),
            call_log_max_bytes=_env_int("HOTFN_CALL_LOG_MAX_BYTES", 64 * 1024),
            iofs_tmpfs=os.environ.get("HOTFN_IOFS_TMPFS", "1") not in ("0", "false", "no"),
            max_call_body=_env_int("HOTFN_MAX_CALL_BODY", 6 * 1024 * 1024),
            max_call_response=_env_int("HOTFN_MAX_CALL_RESPONSE", 6 * 1024 * 1024),
            max_call_headers=_env_int("HOTFN_MAX_CALL_HEADERS", 100),
            max_call_header_bytes=_env_int("HOTFN_MAX_CALL_HEADER_BYTES", 32 * 1024),
            client_idle_timeout=_env_float("HOTFN_CLIENT_IDLE_TIMEOUT", 30.0),
            pull_timeout=_env_float("HOTFN_PULL_TIMEOUT", 300.0),
            pull_retry_after=_env_float("HOTFN_PULL_RETRY_AFTER", 10.0),
            docker_config=_env_path("HOTFN_DOCKER_CONFIG"),
            registry_auth_dir=_env_path("HOTFN_REGISTRY_AUTH_DIR"),
            image_gc_after=_env_float("HOTFN_IMAGE_GC_AFTER", 0.0),
            pull_from=_env_list("HOTFN_PULL_FROM", ("*",)),
            max_detached_body=_env_int("HOTFN_MAX_DETACHED_BODY", 256 * 1024),
            detached_queue_max=_env_int("HOTFN_DETACHED_QUEUE_MAX", 100_000),
            detached_per_fn=_env_int("HOTFN_DETACHED_PER_FN", 0),
            detached_max_running=_env_int("HOTFN_DETACHED_MAX_RUNNING", 64),
            detached_lease_s=_env_float("HOTFN_DETACHED_LEASE", 30.0),
            detached_poll_s=_env_float("HOTFN_DETACHED_POLL", 1.0),
            detached_backoff_s=_env_float("HOTFN_DETACHED_BACKOFF", 1.0),
            spill_to=os.environ.get("HOTFN_SPILL_TO", ""),
            engine_timeout_scale=_env_positive("HOTFN_ENGINE_TIMEOUT_SCALE", 1.0),
        )
        s.instance = os.environ.get("HOTFN_INSTANCE", "")
        for key, value in overrides.items():
            if value is not None:
                setattr(s, key, value)
        return s

    def check_exposure(self) -> None:
        """Refuse to listen beyond this machine without a token, unless told to."""
        # A unix socket is this machine's only (host is not used then).
        if self.token or self.insecure or self.uds is not None or is_loopback(self.host):
            return
        raise InvalidInput(
            f"refusing to listen on {self.host} without an API token: anyone who can reach "
            "it could run containers. Pass --token (or set HOTFN_TOKEN), or --insecure to "
            "accept that"
        )

    @property
    def listen_address(self) -> str:
        """Where the server listens, for logs: ``host:port`` or ``unix:PATH``."""
        return f"unix:{self.uds}" if self.uds is not None else f"{self.host}:{self.port}"

    def resolve(self) -> Settings:
        """Fill in what depends on the data dir (call once at server start)."""
        if not self.instance:
            self.instance = load_instance(self.data_dir)
        return self

    def registry_auth_path(self) -> Path:
        """The folder of named credential sets (``HOTFN_REGISTRY_AUTH_DIR``, else
        ``<data_dir>/registry-auth``)."""
        return self.registry_auth_dir or self.data_dir / "registry-auth"

    def docker_config_path(self) -> Path:
        """The Docker config.json whose ``auths`` pulls use (Docker's own default:
        ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``)."""
        if self.docker_config is not None:
            return self.docker_config
        base = os.environ.get("DOCKER_CONFIG")
        return (Path(base) if base else Path.home() / ".docker") / "config.json"
