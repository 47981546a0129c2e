"""The operators' pages: the campaign dashboard and the graph explorer.

Each is a template rendered in the reader's language (`api.pages`); the
pages hold no data, their scripts ask the API with the operator's key.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.pages import render_page

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
async def dashboard_page(request: Request) -> HTMLResponse:
    """A campaign's KPIs, daily chart, funnel and leaderboards."""
    return render_page(request, "dashboard.html", ("page.js", "dashboard.js"))


@router.get("/explorer")
async def explorer_page(request: Request) -> HTMLResponse:
    """The referral graph; `?user=<id>` opens that user."""
    return render_page(
        request,
        "explorer.html",
        ("page.js", "explorer_details.js", "explorer_boards.js", "explorer.js"),
    )
