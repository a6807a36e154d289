"""/v2/apps routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from hotfn.api import views
from hotfn.api.models import AppCreate, AppList, AppOut, AppUpdate, ErrorBody

router = APIRouter(prefix="/v2/apps", tags=["apps"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid input"},
    404: {"model": ErrorBody, "description": "App not found"},
    409: {"model": ErrorBody, "description": "Name taken or immutable field changed"},
}
PerPage = Annotated[
    int | None, Query(ge=1, le=1_000_000, description="default 30; more than 100 gives 100")
]
Cursor = Annotated[
    str | None,
    Query(max_length=2048, pattern=r"^[A-Za-z0-9_-]*$", description="next_cursor of the last page"),
]


@router.get("", response_model=AppList, responses={400: ERRORS[400]})
async def list_apps(
    request: Request,
    name: Annotated[str | None, Query(max_length=255)] = None,
    cursor: Cursor = None,
    per_page: PerPage = None,
) -> dict[str, Any]:
    """List apps ordered by name; ``name`` filters exactly."""
    apps, next_cursor = await views.store(request).apps.list(name, cursor, per_page)
    return {"items": [views.app_view(a) for a in apps], "next_cursor": next_cursor}


@router.post("", response_model=AppOut, responses={400: ERRORS[400], 409: ERRORS[409]})
async def create_app(request: Request, body: AppCreate) -> dict[str, Any]:
    """Create an app. 409 if the name is taken."""
    app = await views.store(request).apps.create(
        body.name, body.config, body.annotations, body.syslog_url, body.shape
    )
    return views.app_view(app)


@router.get("/{app_id}", response_model=AppOut, responses={404: ERRORS[404]})
async def get_app(request: Request, app_id: str) -> dict[str, Any]:
    return views.app_view(await views.store(request).apps.get(app_id))


@router.put("/{app_id}", response_model=AppOut, responses=ERRORS)
async def update_app(request: Request, app_id: str, body: AppUpdate) -> dict[str, Any]:
    """Merge into the app: config/annotation keys set to "" are removed."""
    body.check_id(app_id)
    app = await views.store(request).apps.update(
        app_id,
        name=body.name,
        config=body.config,
        annotations=body.annotations,
        syslog_url=body.syslog_url,
        shape=body.shape,
    )
    return views.app_view(app)


@router.delete("/{app_id}", status_code=204, response_class=Response, responses={404: ERRORS[404]})
async def delete_app(request: Request, app_id: str) -> Response:
    """Delete the app with its fns and triggers."""
    await views.store(request).apps.delete(app_id)
    return Response(status_code=204)
