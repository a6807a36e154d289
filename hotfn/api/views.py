"""Objects as the API shows them: timestamps in RFC 3339 (ms, UTC) and the endpoint
annotations (absolute URLs the caller can reach) added on the way out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request

from hotfn.server_state import Runtime
from hotfn.store import Store
from hotfn.types import HTTP_ENDPOINT, INVOKE_ENDPOINT, App, Fn, Trigger


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def store(request: Request) -> Store:
    return runtime(request).store


def base_url(request: Request) -> str:
    """The public URL of this server: configured, else the one the caller used."""
    configured = runtime(request).settings.public_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")


def rfc3339(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def app_view(app: App) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "config": dict(app.config),
        "annotations": dict(app.annotations),
        "syslog_url": app.syslog_url,
        "shape": app.shape,
        "created_at": rfc3339(app.created_at),
        "updated_at": rfc3339(app.updated_at),
    }


def fn_view(fn: Fn, base: str) -> dict[str, Any]:
    return {
        "id": fn.id,
        "name": fn.name,
        "app_id": fn.app_id,
        "image": fn.image,
        "memory": fn.memory,
        "timeout": fn.timeout,
        "idle_timeout": fn.idle_timeout,
        "format": fn.format,
        "config": dict(fn.config),
        "annotations": {**fn.annotations, INVOKE_ENDPOINT: f"{base}/invoke/{fn.id}"},
        "created_at": rfc3339(fn.created_at),
        "updated_at": rfc3339(fn.updated_at),
    }


def trigger_view(trigger: Trigger, app_name: str, base: str) -> dict[str, Any]:
    return {
        "id": trigger.id,
        "name": trigger.name,
        "app_id": trigger.app_id,
        "fn_id": trigger.fn_id,
        "type": trigger.type,
        "source": trigger.source,
        "annotations": {
            **trigger.annotations,
            HTTP_ENDPOINT: f"{base}/t/{app_name}{trigger.source}",
        },
        "created_at": rfc3339(trigger.created_at),
        "updated_at": rfc3339(trigger.updated_at),
    }
