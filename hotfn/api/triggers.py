"""/v2/triggers routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from hotfn.api import views
from hotfn.api.apps import ERRORS, Cursor, PerPage
from hotfn.api.models import ErrorBody, TriggerCreate, TriggerList, TriggerOut, TriggerUpdate
from hotfn.types import Trigger

router = APIRouter(prefix="/v2/triggers", tags=["triggers"])
TRIGGER_ERRORS = {
    **ERRORS,
    404: {"model": ErrorBody, "description": "Trigger, fn or app not found"},
}


async def _view(request: Request, trigger: Trigger) -> dict[str, Any]:
    app = await views.store(request).apps.get(trigger.app_id)
    return views.trigger_view(trigger, app.name, views.base_url(request))


@router.get("", response_model=TriggerList, responses={400: ERRORS[400], 404: ERRORS[404]})
async def list_triggers(
    request: Request,
    app_id: Annotated[str, Query(max_length=64)],
    fn_id: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(max_length=255)] = None,
    cursor: Cursor = None,
    per_page: PerPage = None,
) -> dict[str, Any]:
    """List an app's triggers ordered by name; ``fn_id`` and ``name`` filter exactly."""
    st = views.store(request)
    app = await st.apps.get(app_id)
    items, next_cursor = await st.triggers.list(app_id, fn_id, name, cursor, per_page)
    base = views.base_url(request)
    return {
        "items": [views.trigger_view(t, app.name, base) for t in items],
        "next_cursor": next_cursor,
    }


@router.post("", response_model=TriggerOut, responses=TRIGGER_ERRORS)
async def create_trigger(request: Request, body: TriggerCreate) -> dict[str, Any]:
    """Create an HTTP trigger: ``/t/{app_name}{source}`` calls the fn."""
    trigger = await views.store(request).triggers.create(
        body.app_id, body.fn_id, body.name, body.type, body.source, body.annotations
    )
    return await _view(request, trigger)


@router.get("/{trigger_id}", response_model=TriggerOut, responses={404: ERRORS[404]})
async def get_trigger(request: Request, trigger_id: str) -> dict[str, Any]:
    return await _view(request, await views.store(request).triggers.get(trigger_id))


@router.put("/{trigger_id}", response_model=TriggerOut, responses=TRIGGER_ERRORS)
async def update_trigger(request: Request, trigger_id: str, body: TriggerUpdate) -> dict[str, Any]:
    """Merge into the trigger: ``source`` and annotations may change."""
    body.check_id(trigger_id)
    trigger = await views.store(request).triggers.update(
        trigger_id,
        source=body.source,
        annotations=body.annotations,
        name=body.name,
        app_id=body.app_id,
        fn_id=body.fn_id,
        type=body.type,
    )
    return await _view(request, trigger)


@router.delete(
    "/{trigger_id}", status_code=204, response_class=Response, responses={404: ERRORS[404]}
)
async def delete_trigger(request: Request, trigger_id: str) -> Response:
    await views.store(request).triggers.delete(trigger_id)
    return Response(status_code=204)
