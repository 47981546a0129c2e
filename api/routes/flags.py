from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from starlette.concurrency import run_in_threadpool

from api import queries
from api.auth import FullNames, admin, viewer
from api.deps import ServiceDep, UserIdDep, cached_json
from api.models import ErrorBody, FlagPage, ReviewOut, ReviewRequest
from graph.review import review_user

router = APIRouter(prefix="/v1/flags", tags=["fraud review"])


@router.get("", response_model=FlagPage, dependencies=[Depends(viewer)])
async def flags(
    service: ServiceDep,
    full: FullNames,
    status: Annotated[
        Literal["pending", "approved", "declined"] | None, Query(description="only this status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
) -> Response:
    """The review queue: flagged users, highest risk first, with evidence."""
    return await cached_json(
        service,
        ("flags", status, limit, offset, full),
        lambda: queries.flagged(service, status, limit, offset, full),
    )


@router.post(
    "/{user_id}/review",
    response_model=ReviewOut,
    dependencies=[Depends(admin)],
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
async def review(
    user_id: UserIdDep,
    decision: ReviewRequest,
    service: ServiceDep,
) -> ReviewOut:
    """Approve (may be rewarded) or decline (fraud) a flagged user. The
    latest decision counts; KOC lists and exports use it at once."""

    def decide() -> ReviewOut:
        service.store.user(user_id)  # 404 for an unknown user
        done = review_user(
            service.store,
            service.snapshot(),
            user_id,
            "approved" if decision.decision == "approve" else "declined",
            decision.note,
            decision.reviewer,
        )
        service.changed(kept_latest=True)
        return ReviewOut(**done.to_json())

    return await run_in_threadpool(decide)
