"""The bounded views of the graph the explorer page draws (the page itself:
api/routes/pages.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from api import explorer
from api.auth import FullNames, viewer
from api.deps import ServiceDep, cached_json
from api.errors import ApiError
from api.explorer_models import ExplorerView, ViewParams
from api.i18n import _
from api.models import ErrorBody

router = APIRouter(tags=["explorer"])


@router.get(
    "/v1/explorer/view",
    response_model=ExplorerView,
    dependencies=[Depends(viewer)],
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
async def view(
    service: ServiceDep,
    full: FullNames,
    kind: Annotated[
        Literal["searchlight", "community", "ego", "tree", "map"], Query(alias="view")
    ] = "searchlight",
    user_id: Annotated[
        str | None, Query(max_length=256, description="ego and tree views: the centre")
    ] = None,
    community: Annotated[int | None, Query(ge=0, description="community view")] = None,
    k: Annotated[int, Query(ge=1, le=200, description="searchlight view: KOCs")] = 20,
    hops: Annotated[int, Query(ge=1, le=3)] = 2,
    limit: Annotated[int, Query(ge=1, le=3000, description="most users drawn")] = 1500,
    min_score: Annotated[float, Query(ge=0, le=100)] = 0.0,
    show_flagged: bool = True,
    depth: Annotated[int, Query(ge=1, le=10, description="tree view: levels below")] = 3,
) -> Response:
    """A bounded view of the graph with its layout: nodes with positions,
    community, KOC score, reach, flags; REFERRED and INVITED edges. Its
    words (title, reasons, note) are in the reader's language."""
    if kind == "ego" and not user_id:
        raise ApiError(422, _("the ego view needs user_id"), field="user_id", location="query")
    if kind == "tree" and not user_id:
        raise ApiError(422, _("the tree view needs user_id"), field="user_id", location="query")
    if kind == "community" and community is None:
        raise ApiError(
            422, _("the community view needs community"), field="community", location="query"
        )
    params = ViewParams(kind, user_id, community, k, hops, limit, min_score, show_flagged, depth)
    return await cached_json(
        service,
        ("view", params, full),
        lambda: explorer.named(service, params, full),
    )
