"""The campaign dashboard's data (viewer keys): GET /v1/dashboard and its
tables as files. The page is api/routes/pages.py's /dashboard."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from starlette.concurrency import run_in_threadpool

from api import dashboard
from api.auth import FullNames, viewer
from api.dashboard_export import MEDIA, TABLES, export, filename
from api.dashboard_models import Dashboard
from api.deps import ServiceDep, cached_json
from api.models import ErrorBody

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"], dependencies=[Depends(viewer)])
_ERRORS = {404: {"model": ErrorBody}, 422: {"model": ErrorBody}}

Campaign = Annotated[
    str | None,
    Query(max_length=200, description="one campaign, by its exact name; absent: all campaigns"),
]
Since = Annotated[
    str | None,
    Query(
        max_length=40,
        description="first day, YYYY-MM-DD in KOC_TIMEZONE (default: 29 days before until)",
    ),
]
Until = Annotated[
    str | None,
    Query(
        max_length=40,
        description="last day, included (default: the day of the store's last event)",
    ),
]
K = Annotated[int, Query(ge=1, le=dashboard.MAX_TOP_KOCS, description="top KOCs shown")]


@router.get("", response_model=Dashboard, responses=_ERRORS)
async def campaign_dashboard(
    service: ServiceDep,
    full: FullNames,
    campaign: Campaign = None,
    since: Since = None,
    until: Until = None,
    k: K = 10,
) -> Response:
    """A campaign's KPIs with day-over-day values, its days, the tier funnel,
    the channel and staff leaderboards by what their users brought on the
    graph, the top KOCs and the review queue's size (docs/dashboard.md)."""
    query = await run_in_threadpool(dashboard.resolve, service, campaign, since, until)
    return await cached_json(
        service,
        ("dashboard", query, k, full),
        lambda: dashboard.dashboard(service, query, k, full),
    )


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {"content": {MEDIA["csv"]: {}, MEDIA["xlsx"]: {}}, "description": "the table"},
        **_ERRORS,
    },
)
async def export_table(
    service: ServiceDep,
    full: FullNames,
    table: Annotated[Literal[TABLES], Query(description="which table")],  # type: ignore[valid-type]
    format: Annotated[Literal["csv", "xlsx"], Query(description="file format")] = "csv",
    campaign: Campaign = None,
    since: Since = None,
    until: Until = None,
    k: K = 10,
) -> Response:
    """One table of the dashboard as CSV (UTF-8 with BOM) or XLSX, headers in
    the reader's language."""
    query = await run_in_threadpool(dashboard.resolve, service, campaign, since, until)
    board = await run_in_threadpool(dashboard.dashboard, service, query, k, full)
    body = await run_in_threadpool(export, board, table, format)
    return Response(
        body,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{filename(board, table, format)}"'},
    )
