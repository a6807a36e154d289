"""Shared vocabulary: the objects the store returns and the agent runs.

These are plain frozen dataclasses so that every layer (API, store, agent, CLI) can
pass them around without importing each other. JSON shapes live in ``hotfn.api``;
table layouts live in ``hotfn.store``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

FnFormat = Literal["http-stream", "default"]
FORMATS: tuple[FnFormat, ...] = ("http-stream", "default")

# Annotations hotfn reads on apps and fns (values are JSON, as in Fn).
ANNOTATION_NETWORK = "hotfn.io/network"  # Docker network mode for the fn's containers
ANNOTATION_CONCURRENCY = "hotfn.io/concurrency"  # calls one container may serve at once
ANNOTATION_MAX_CONTAINERS = "hotfn.io/max-containers"  # per-fn cap on containers
ANNOTATION_PROVISIONED = "hotfn.io/provisioned"  # containers kept hot at all times (int)
ANNOTATION_KEEPALIVE = "hotfn.io/keepalive"  # "adaptive" | "fixed" keep-alive policy
ANNOTATION_GENERIC = "hotfn.io/generic"  # false: never start in a warm generic container
INVOKE_ENDPOINT = "fnproject.io/fn/invokeEndpoint"
HTTP_ENDPOINT = "fnproject.io/trigger/httpEndpoint"


@dataclass(frozen=True)
class App:
    id: str
    name: str
    config: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, Any] = field(default_factory=dict)
    syslog_url: str | None = None
    shape: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Fn:
    id: str
    name: str
    app_id: str
    image: str
    memory: int = 128
    timeout: int = 30
    idle_timeout: int = 30
    format: FnFormat = "http-stream"
    config: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Trigger:
    id: str
    name: str
    app_id: str
    fn_id: str
    type: str
    source: str
    annotations: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Target:
    """Everything the agent needs to run calls of one function.

    Built from an app and a fn; ``key`` changes whenever anything that affects a
    running container changes, so a new key means a new pool and the old one drains.
    """

    app: App
    fn: Fn

    @property
    def env(self) -> dict[str, str]:
        """App config, then fn config on top (the fn wins), as in Fn."""
        merged = dict(self.app.config)
        merged.update(self.fn.config)
        return merged

    def annotation(self, name: str, default: Any = None) -> Any:
        """A hotfn annotation, the fn's value winning over the app's."""
        if name in self.fn.annotations:
            return self.fn.annotations[name]
        return self.app.annotations.get(name, default)

    @property
    def key(self) -> str:
        parts = {
            "fn": self.fn.id,
            "app": self.app.id,
            "image": self.fn.image,
            "memory": self.fn.memory,
            "timeout": self.fn.timeout,
            "idle_timeout": self.fn.idle_timeout,
            "format": self.fn.format,
            "env": self.env,
            "names": [self.app.name, self.fn.name],
            "network": self.annotation(ANNOTATION_NETWORK),
            "concurrency": self.annotation(ANNOTATION_CONCURRENCY),
        }
        blob = json.dumps(parts, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class CallRecord:
    """One call as kept in the store (``GET /v2/fns/{fn_id}/calls/{call_id}``)."""

    id: str
    fn_id: str
    app_id: str
    status: str
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    http_status: int | None = None
    error: str | None = None
    queued_ms: float | None = None
    start_ms: float | None = None
    run_ms: float | None = None
    start_path: str | None = None  # "hot", "image", ... how the container was obtained
    container_id: str | None = None
    attempts: int | None = None  # detached calls: the attempt this record is of
