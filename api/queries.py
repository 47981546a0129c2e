"""What the read routes answer: plain functions from the service's store and
latest snapshot to response models, so they test without HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from api import models
from api.exports import KocExport, build_export
from api.score_view import explain_score
from api.service import Service
from graph.analysis.kocs import KocList, KocParams, SnapshotMissingError, choose_kocs
from graph.analysis.score import reason_in_words
from graph.analysis.snapshot_tables import USER_COLUMNS
from graph.live_index import LiveIndex
from graph.ranking import (
    TOP_BY,
    RankedReferrers,
    Ranking,
    check_by,
    held_back,
    rank_by_metric,
    rank_live,
    top_referrers,
)
from graph.review import approved_ids, review_queue
from graph.store import TOP_COUNTS, SavedSnapshot, Store, StoreError, Window
from graph.user_lookup import UserLookup

# What a network shows of each user from the latest snapshot.
NETWORK_COLUMNS = ["koc_score", "community", "flagged"]
# How far up a referral chain the user page walks.
CHAIN_LIMIT = 100


class CommunityNotFoundError(StoreError):
    """No such community in the latest snapshot."""


def health(service: Service) -> models.Health:
    store = service.store
    try:
        watermark = store.watermark()
    except Exception as exc:  # the store is gone: say so, do not fail the probe
        return models.Health(
            status="degraded",
            store=store.url,
            store_reachable=False,
            watermark=None,
            snapshot_id=None,
            snapshot_computed_at=None,
            snapshot_age_seconds=None,
            snapshot_behind_batches=None,
            problem=f"{type(exc).__name__}: {exc}",
        )
    snapshot = service.snapshot_now()  # never waits for a load another request started
    return models.Health(
        status="ok",
        store=store.url,
        store_reachable=True,
        watermark=watermark,
        snapshot_id=snapshot.id if snapshot else None,
        snapshot_computed_at=snapshot.computed_at if snapshot else None,
        snapshot_age_seconds=round((datetime.now(UTC) - snapshot.computed_at).total_seconds(), 1)
        if snapshot
        else None,
        snapshot_behind_batches=watermark - snapshot.watermark if snapshot else None,
    )


def referrers(
    service: Service, window: Window, by: str, limit: int, offset: int
) -> models.ReferrerPage:
    whole = ranked(service, window, by)
    if whole is None:  # the live index is being built: ask the store
        ranking = top_referrers(
            service.store, window, by, limit, offset, snapshot=service.snapshot()
        )
        return referrer_page(ranking, by, limit, offset)
    return referrer_page(whole.page(limit, offset), by, limit, offset)


def kept_ranking(service: Service, window: Window, by: str) -> RankedReferrers | None:
    """The whole ranking if it is already kept for this version (no work)."""
    return service.peek(("ranked", by, window))


def referrer_page(ranking: Ranking, by: str, limit: int, offset: int) -> models.ReferrerPage:
    items = [models.Referrer(rank=offset + i, **row) for i, row in enumerate(ranking.rows, 1)]
    return models.ReferrerPage(
        total=ranking.total, limit=limit, offset=offset, by=by, source=ranking.source, items=items
    )


def ranked(service: Service, window: Window, by: str) -> RankedReferrers | None:
    """The whole ranking, once per store version and window: every page is a
    slice of it. None while the live index a live count needs is built."""
    check_by(by)
    if by not in TOP_COUNTS:
        return service.cached(
            ("ranked", by, window),
            lambda: rank_by_metric(service.store, service.snapshot(), window, by, _held(service)),
        )
    index = service.live_index()
    if index is None:
        return None

    def rank() -> RankedReferrers:
        held = _held(service)
        with service.ranking_slots:
            return rank_live(index, window, by, held)

    return service.cached(("ranked", by, window), rank)


def _held(service: Service) -> pa.Table | None:
    return service.cached(("held",), lambda: held_back(service.snapshot(), service.reviews()))


def _lookup(service: Service) -> UserLookup:
    return service.cached(
        ("user-lookup",), lambda: UserLookup(service.snapshot(), service.reviews())
    )


InMemory = tuple[LiveIndex, UserLookup]


def in_memory(service: Service) -> InMemory | None:
    """The live index and the user lookup when both are built for this
    version: user reads can then be answered on the event loop, touching
    neither the store nor a lock anyone holds for long."""
    index = service.live_index()
    lookup = service.peek(("user-lookup",))
    if index is None or lookup is None or not lookup.aligned_with(index):
        return None
    return index, lookup


def live_reader(service: Service) -> Store | LiveIndex:
    """Who answers user reads: the live index when built, else the store."""
    index = service.live_index()
    return service.store if index is None else index


def koc_list(service: Service, params: KocParams, wait: bool = False) -> KocList:
    """The KOC list for these parameters, computed once per store version;
    computing one takes an expensive-work slot (`Service.expensive`): none
    free is `BusyError`, unless `wait`."""

    def compute() -> KocList:
        with service.expensive(wait=wait):
            return choose_kocs(
                service.store, service.snapshot(), params, prepared=service.snapshot_graph()
            )

    return service.cached(("kocs", params), compute)


def warm(service: Service) -> None:
    """Load the latest snapshot, the default KOC list, the user lookup, the
    live index and the whole ranking by each count and metric into the cache."""
    if service.snapshot() is not None:
        koc_list(service, KocParams(), wait=True)
    lookup = _lookup(service)
    index = service.live_index(wait=True)
    if index is not None:  # what user pages and networks look up on the event loop
        lookup.aligned(index)
        lookup.columns(np.zeros(1, np.int64), NETWORK_COLUMNS)
    for by in TOP_BY if service.snapshot() is not None else TOP_COUNTS:
        ranked(service, Window(), by)  # every leaderboard's first page


def kocs(service: Service, params: KocParams, limit: int, offset: int) -> models.KocPage:
    chosen = koc_list(service, params)
    rows = chosen.rows[offset : offset + limit]
    return models.KocPage(
        total=len(chosen.rows),
        limit=limit,
        offset=offset,
        snapshot_id=chosen.snapshot_id,
        strategy=params.strategy,
        k=params.k,
        quota=params.quota,
        users=chosen.users,
        eligible=chosen.eligible,
        spread=chosen.spread,
        notes=chosen.notes,
        items=rows,
    )


def koc_export(service: Service, params: KocParams, lang: str) -> KocExport:
    chosen = koc_list(service, params)
    snapshot = _latest(service)
    approved = approved_ids(service.store)
    made = build_export(chosen, snapshot, approved, service.settings.reward_tiers, lang)
    service.store.record_export(snapshot.id)  # so pruning keeps what the manifest names
    return made


def _latest(service: Service) -> SavedSnapshot:
    snapshot = service.snapshot()
    if snapshot is None:
        raise SnapshotMissingError("no analysis yet: run one first (POST /v1/analyses)")
    return snapshot


def user(service: Service, user_id: str, memory: InMemory | None = None) -> models.UserDetail:
    """A user page; `memory` answers it without the store (`in_memory`)."""
    index, lookup = memory or (service.live_index(), _lookup(service))
    if index is None:
        record = service.store.user(user_id)  # UserNotFoundError: 404
        chain = service.store.referral_chain(user_id, CHAIN_LIMIT)
        row = lookup.row(user_id)
    else:
        code = index.code(user_id)  # UserNotFoundError: 404
        record, chain = index.record_at(code), index.chain_at(code, CHAIN_LIMIT)
        row = lookup.row_at(int(lookup.aligned(index)[code]))
    snapshot = lookup.snapshot
    flags = [
        models.Flag(rule=f["rule"], reason=f["reason"], evidence=json.loads(f["evidence"]))
        for f in (lookup.flags(user_id) if row else [])
    ]
    decided = lookup.review(user_id)
    explained = explain_score(snapshot, row)
    metrics = None
    if row:
        metrics = {
            name: (row[name].isoformat() if isinstance(row[name], datetime) else row[name])
            for name in USER_COLUMNS
            if name in row
        }
    return models.UserDetail(
        id=record.id,
        first_seen=record.first_seen,
        joined_at=record.joined_at,
        converted_at=record.converted_at,
        amount=record.amount,
        churned_at=record.churned_at,
        referred_by=record.referred_by,
        chain=chain,
        snapshot_id=snapshot.id if snapshot else None,
        in_snapshot=row is not None,
        metrics=metrics,
        koc_score=row["koc_score"] if row else None,
        score_kind=explained.kind,
        score_horizon_days=explained.horizon_days,
        score_baseline=explained.baseline,
        score=explained.parts,
        top_reason=(reason_in_words(row) or None) if row else None,
        community=row["community"] if row else None,
        flagged=bool(row and row.get("flagged")),
        risk=row.get("risk") if row else None,
        flags=flags,
        review=models.ReviewOut(**decided) if decided else None,
    )


def network(
    service: Service, user_id: str, hops: int, limit: int, memory: InMemory | None = None
) -> models.Network:
    """A user's network; `memory` answers it without the store (`in_memory`)."""
    index, lookup = memory or (service.live_index(), _lookup(service))
    reader = service.store if index is None else index
    ego = reader.ego_network(user_id, hops=hops, limit=limit)
    ids = ego.users["id"]
    rows = (
        lookup.positions(ids.to_pylist())
        if index is None or ego.codes is None
        else lookup.aligned(index)[ego.codes]
    )
    known = lookup.columns(rows, NETWORK_COLUMNS)
    nodes = pa.table(
        {
            "id": ids,
            "hop": ego.users["hop"],
            "koc_score": known["koc_score"],
            "community": known["community"],
            "flagged": pc.fill_null(known["flagged"].cast(pa.bool_()), False),
        }
    )
    # Validated from plain lists in one call: a model per node would cost
    # more than finding the network.
    return models.Network.model_validate(
        {
            "center": user_id,
            "hops": hops,
            "limit": limit,
            "truncated": ego.truncated,
            "nodes": nodes.to_pylist(),
            "ties": ego.ties.to_pylist(),
        }
    )


def _community_model(row: dict) -> models.Community:
    return models.Community(**{k: row[k] for k in models.Community.model_fields})


def communities(service: Service, limit: int, offset: int) -> models.CommunityPage:
    snapshot = _latest(service)
    table = snapshot.communities.sort_by([("size", "descending"), ("community", "ascending")])
    page = table.slice(offset, limit).to_pylist()
    return models.CommunityPage(
        total=table.num_rows,
        limit=limit,
        offset=offset,
        snapshot_id=snapshot.id,
        items=[_community_model(r) for r in page],
    )


def community(
    service: Service, community_id: int, limit: int, offset: int
) -> models.CommunityDetail:
    snapshot = _latest(service)
    table = snapshot.communities
    rows = table.filter(pc.equal(table["community"], community_id)).to_pylist()
    if not rows:
        raise CommunityNotFoundError(f"no community {community_id} in snapshot {snapshot.id[:8]}")
    users = snapshot.users
    members = users.filter(pc.equal(users["community"], community_id)).sort_by(
        [("koc_score", "descending"), ("id", "ascending")]
    )
    page = members.slice(offset, limit).select(["id", "koc_score", "invites", "reach", "flagged"])
    return models.CommunityDetail(
        **_community_model(rows[0]).model_dump(),
        snapshot_id=snapshot.id,
        members=[models.Member(**r) for r in page.to_pylist()],
        members_total=members.num_rows,
        limit=limit,
        offset=offset,
    )


def flagged(service: Service, status: str | None, limit: int, offset: int) -> models.FlagPage:
    snapshot = service.snapshot()
    queue = service.cached(("flags", status), lambda: review_queue(service.store, snapshot, status))
    return models.FlagPage(
        total=len(queue),
        limit=limit,
        offset=offset,
        snapshot_id=snapshot.id if snapshot else None,
        status=status,
        items=[
            models.FlaggedUser.model_validate(e, from_attributes=True)
            for e in queue[offset : offset + limit]
        ],
    )
