"""Read routes: referrers, KOCs, users, communities (viewer keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from api import names, queries, user_queries
from api.auth import FullNames, viewer
from api.deps import ServiceDep, UserIdDep, aware, cached_json, check_window, json_response
from api.errors import ApiError
from api.i18n import _, error_text
from api.models import (
    CommunityDetail,
    CommunityPage,
    ErrorBody,
    KocPage,
    Network,
    ReferrerPage,
    UserDetail,
    UserSearch,
)
from graph.analysis.kocs import KocParams
from graph.ranking import TOP_BY
from graph.store import Window
from graph.user_search import MAX_QUERY

router = APIRouter(prefix="/v1", dependencies=[Depends(viewer)])
_NOT_FOUND = {404: {"model": ErrorBody}}
_NO_ANALYSIS = {409: {"model": ErrorBody}}

Limit = Annotated[int, Query(ge=1, le=1000, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=100_000_000, description="items to skip")]
# Networks up to this many users are found on the event loop when the live
# index is built (a few ms at most); larger ones in a thread.
INLINE_NETWORK = 1000
KParam = Annotated[int, Query(ge=1, le=1000, description="how many KOCs")]
Strategy = Annotated[
    Literal["coverage", "influence", "score"],
    Query(description="coverage: the searchlight set; influence: cascade; score: top KOC scores"),
]
Quota = Annotated[
    Literal["community"] | None, Query(description="community: split k across communities")
]


async def koc_params(
    k: KParam = 50,
    strategy: Strategy = "coverage",
    quota: Quota = None,
    sharers: Annotated[
        float,
        Query(
            ge=0.0,
            le=1.0,
            description="score with a learned score: the share of k picked as sharers "
            "(who will bring the most users themselves); the rest are tree roots",
        ),
    ] = 0.3,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="influence strategy seed")] = 0,
    exclude: Annotated[
        list[str], Query(max_length=1000, description="user ids never to pick (repeatable)")
    ] = [],  # noqa: B006 - FastAPI copies defaults per request
    engine: Annotated[
        Literal["searchlight", "gds"],
        Query(description="influence only: searchlight (IMM) or gds (GDS's CELF in Neo4j)"),
    ] = "searchlight",
    model: Annotated[
        str,
        Query(
            max_length=32,
            description="influence only: learned (default), wc (weighted cascade) or uniform:P",
        ),
    ] = "learned",
    candidates: Annotated[
        Literal["eligible", "all"],
        Query(description="influence only: eligible (default) or all (every user)"),
    ] = "eligible",
) -> KocParams:
    try:
        return KocParams(
            k=k,
            strategy=strategy,
            quota=quota,
            sharers=sharers,
            exclude=tuple(sorted(exclude)),
            seed=seed,
            engine=engine,
            model=model,
            candidates=candidates,
        )
    except ValueError as exc:
        field = getattr(exc, "field", "") or ("model" if "model" in str(exc) else "engine")
        raise ApiError(422, error_text(exc), field=field, location="query") from None


KocParamsDep = Annotated[KocParams, Depends(koc_params)]


@router.get(
    "/referrers/top", response_model=ReferrerPage, tags=["rankings"], responses=_NO_ANALYSIS
)
async def top_referrers(
    service: ServiceDep,
    full: FullNames,
    by: Annotated[Literal[TOP_BY], Query(description="the count or metric to rank by")] = "invites",  # type: ignore[valid-type]
    limit: Limit = 20,
    offset: Offset = 0,
    campaign: Annotated[list[str], Query(max_length=100, description="only these campaigns")] = [],  # noqa: B006
    since: Annotated[
        datetime | None, Query(description="from (inclusive); naive = KOC_TIMEZONE")
    ] = None,
    until: Annotated[datetime | None, Query(description="up to (exclusive)")] = None,
) -> Response:
    """Referrers ranked by a live count (invites, effective_invites,
    conversions) or by a metric of the latest analysis (reach, gmv, koc_score)."""
    zone = service.settings.timezone
    window = Window(aware(since, zone), aware(until, zone), tuple(sorted(set(campaign))))
    check_window(window.since, window.until)
    return await cached_json(
        service,
        ("top", by, limit, offset, window, full),
        lambda: queries.referrers(service, window, by, limit, offset, full),
        # A page of a kept ranking is a slice: cut on the loop, no thread.
        inline=queries.kept_ranking(service, window, by) is not None,
    )


@router.get("/kocs", response_model=KocPage, tags=["kocs"], responses=_NO_ANALYSIS)
async def kocs(
    service: ServiceDep,
    params: KocParamsDep,
    full: FullNames,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> Response:
    """The KOC list from the latest analysis. Flagged users (unless approved
    on review), churned users and users with no invite are never picked."""
    return await cached_json(
        service,
        ("kocs", params, limit, offset, full),
        lambda: queries.kocs(service, params, limit, offset, full),
    )


# Registered before /users/{user_id}: a user whose id is "search" is
# /v1/users/%73earch (ids in paths are percent-decoded once).
@router.get("/users/search", response_model=UserSearch, tags=["users"])
async def search_users(
    service: ServiceDep,
    full: FullNames,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY,
            description="an id, the start of one, or part of a name (case ignored)",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=50, description="most users returned")] = 20,
) -> Response:
    """Users whose id is or starts with `q`, or whose name contains it, best
    first: exact id, exact name, prefix, contains, then by id. Viewer keys
    search the names as they see them (mobile numbers masked)."""
    text = q.strip()
    if not text:
        raise ApiError(422, _("q must hold more than spaces"), field="q", location="query")

    def search() -> UserSearch:
        return UserSearch(q=text, limit=limit, items=names.search(service, text, limit, full))

    return await cached_json(service, ("user-search", text, limit, full), search)


@router.get(
    "/users/{user_id}/network", response_model=Network, tags=["users"], responses=_NOT_FOUND
)
async def user_network(
    user_id: UserIdDep,
    service: ServiceDep,
    full: FullNames,
    hops: Annotated[int, Query(ge=0, le=4, description="ties away from the user")] = 2,
    limit: Annotated[int, Query(ge=1, le=5000, description="most users returned")] = 500,
) -> Response:
    """The users within `hops` ties of a user (nearest first, at most
    `limit`) and the REFERRED and INVITED ties among them."""
    memory = user_queries.in_memory(service)
    if memory is not None and limit <= INLINE_NETWORK:  # a millisecond or so
        return json_response(user_queries.network(service, user_id, hops, limit, memory, full))
    return json_response(
        await run_in_threadpool(user_queries.network, service, user_id, hops, limit, None, full)
    )


@router.get("/users/{user_id}", response_model=UserDetail, tags=["users"], responses=_NOT_FOUND)
async def user(user_id: UserIdDep, service: ServiceDep, full: FullNames) -> Response:
    """A user: metrics, the KOC score's parts, flags with evidence, review,
    community, referrer and the referral chain up to its root."""
    memory = user_queries.in_memory(service)
    if memory is not None:  # half a millisecond: no thread needed
        return json_response(user_queries.user(service, user_id, memory, full))
    return json_response(await run_in_threadpool(user_queries.user, service, user_id, None, full))


@router.get(
    "/communities", response_model=CommunityPage, tags=["communities"], responses=_NO_ANALYSIS
)
async def communities(
    service: ServiceDep, full: FullNames, limit: Limit = 100, offset: Offset = 0
) -> Response:
    """Communities of the latest analysis, largest first."""
    return await cached_json(
        service,
        ("communities", limit, offset, full),
        lambda: queries.communities(service, limit, offset, full),
    )


@router.get(
    "/communities/{community_id}",
    response_model=CommunityDetail,
    tags=["communities"],
    responses={**_NOT_FOUND, **_NO_ANALYSIS},
)
async def community(
    community_id: Annotated[int, Path(ge=0, le=2**62)],
    service: ServiceDep,
    full: FullNames,
    limit: Limit = 100,
    offset: Offset = 0,
) -> CommunityDetail:
    """One community and a page of its members by KOC score."""
    return await run_in_threadpool(queries.community, service, community_id, limit, offset, full)
