"""The operators' explorer: the page, and the bounded views it draws."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse

from api import explorer
from api.auth import viewer
from api.deps import ServiceDep, cached_json
from api.errors import ApiError
from api.models import ErrorBody

router = APIRouter(tags=["explorer"])
PAGE = Path(__file__).parent.parent / "static" / "explorer.html"


@router.get("/explorer", include_in_schema=False)
async def explorer_page() -> HTMLResponse:
    """The page itself holds no data; it asks the API with the operator's key."""
    return HTMLResponse(
        PAGE.read_text(encoding="utf-8"),
        headers={
            # Everything the page loads comes from this server.
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
            "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'",
        },
    )


@router.get(
    "/v1/explorer/view",
    response_model=explorer.ExplorerView,
    dependencies=[Depends(viewer)],
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
async def view(
    service: ServiceDep,
    kind: Annotated[
        Literal["searchlight", "community", "ego", "map"], Query(alias="view")
    ] = "searchlight",
    user_id: Annotated[
        str | None, Query(max_length=256, description="ego view: the centre")
    ] = None,
    community: Annotated[int | None, Query(ge=0, description="community view")] = None,
    k: Annotated[int, Query(ge=1, le=200, description="searchlight view: KOCs")] = 20,
    hops: Annotated[int, Query(ge=1, le=3)] = 2,
    limit: Annotated[int, Query(ge=1, le=3000, description="most users drawn")] = 1500,
    min_score: Annotated[float, Query(ge=0, le=100)] = 0.0,
    show_flagged: bool = True,
) -> Response:
    """A bounded view of the graph with its layout: nodes with positions,
    community, KOC score, reach, flags; REFERRED and INVITED edges."""
    if kind == "ego" and not user_id:
        raise ApiError(422, "the ego view needs user_id", field="user_id", location="query")
    if kind == "community" and community is None:
        raise ApiError(
            422, "the community view needs community", field="community", location="query"
        )
    params = explorer.ViewParams(kind, user_id, community, k, hops, limit, min_score, show_flagged)
    return await cached_json(
        service, ("view", params), lambda: explorer.build_view(service, params)
    )
