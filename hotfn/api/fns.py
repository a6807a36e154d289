"""/v2/fns routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from hotfn.api import views
from hotfn.api.apps import ERRORS, Cursor, PerPage
from hotfn.api.models import ErrorBody, FnCreate, FnList, FnOut, FnUpdate, Prewarmed

router = APIRouter(prefix="/v2/fns", tags=["fns"])
FN_ERRORS = {**ERRORS, 404: {"model": ErrorBody, "description": "Fn or app not found"}}


@router.get("", response_model=FnList, responses={400: ERRORS[400]})
async def list_fns(
    request: Request,
    app_id: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(max_length=255)] = None,
    cursor: Cursor = None,
    per_page: PerPage = None,
) -> dict[str, Any]:
    """List fns ordered by name; ``app_id`` and ``name`` filter exactly."""
    fns, next_cursor = await views.store(request).fns.list(app_id, name, cursor, per_page)
    base = views.base_url(request)
    return {"items": [views.fn_view(f, base) for f in fns], "next_cursor": next_cursor}


@router.post("", response_model=FnOut, responses=FN_ERRORS)
async def create_fn(request: Request, body: FnCreate) -> dict[str, Any]:
    """Create a fn in an existing app. 409 if the name is taken in that app."""
    fn = await views.store(request).fns.create(
        body.app_id,
        body.name,
        body.image,
        body.config,
        body.annotations,
        memory=body.memory,
        timeout=body.timeout,
        idle_timeout=body.idle_timeout,
        format=body.format,
    )
    return views.fn_view(fn, views.base_url(request))


@router.get("/{fn_id}", response_model=FnOut, responses={404: FN_ERRORS[404]})
async def get_fn(request: Request, fn_id: str) -> dict[str, Any]:
    return views.fn_view(await views.store(request).fns.get(fn_id), views.base_url(request))


@router.put("/{fn_id}", response_model=FnOut, responses=FN_ERRORS)
async def update_fn(request: Request, fn_id: str, body: FnUpdate) -> dict[str, Any]:
    """Merge into the fn: config/annotation keys set to "" are removed; name and app_id
    cannot change (409); an id in the body must be the path's (400)."""
    body.check_id(fn_id)
    fn = await views.store(request).fns.update(
        fn_id,
        name=body.name,
        app_id=body.app_id,
        config=body.config,
        annotations=body.annotations,
        image=body.image,
        memory=body.memory,
        timeout=body.timeout,
        idle_timeout=body.idle_timeout,
        format=body.format,
    )
    return views.fn_view(fn, views.base_url(request))


@router.post("/{fn_id}/prewarm", response_model=Prewarmed, responses={404: ERRORS[404]})
async def prewarm_fn(
    request: Request, fn_id: str, count: Annotated[int, Query(ge=1, le=16)] = 1
) -> dict[str, int]:
    """Start ``count`` hot containers of the fn now and answer once they are ready
    (``hotfn deploy --prewarm``), so the next call finds one waiting. Default-format
    fns start a container per call: ``ready`` is 0 for them."""
    rt = views.runtime(request)
    ready = await rt.agent.provisioner.prewarm(await rt.cache.target(fn_id), count)
    return {"requested": count, "ready": ready}


@router.delete("/{fn_id}", status_code=204, response_class=Response, responses={404: ERRORS[404]})
async def delete_fn(request: Request, fn_id: str) -> Response:
    """Delete the fn and its triggers."""
    await views.store(request).fns.delete(fn_id)
    return Response(status_code=204)
