"""What the read routes answer: plain functions from the service's store and
latest snapshot to response models, so they test without HTTP (user pages
and networks: api.user_queries)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from api import models
from api.exports import KocExport, store_export
from api.i18n import Lang, notes_text
from api.names import name_items, names_of
from api.notes import source_text
from api.reasons import flags_in_words, koc_items
from api.service import Service
from api.user_queries import NETWORK_COLUMNS, user_lookup
from graph.analysis.kocs import KocList, KocParams, SnapshotMissingError, choose_kocs
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
from graph.review import QueueEntry, review_queue
from graph.store import TOP_COUNTS, SavedSnapshot, StoreError, Window


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
    service: Service, window: Window, by: str, limit: int, offset: int, full_names: bool = False
) -> models.ReferrerPage:
    """A page of referrers; names masked unless `full_names` (api.names)."""
    whole = ranked(service, window, by)
    if whole is None:  # the live index is being built: ask the store
        ranking = top_referrers(
            service.store, window, by, limit, offset, snapshot=service.snapshot()
        )
    else:
        ranking = whole.page(limit, offset)
    page = referrer_page(ranking, by, limit, offset, service.settings.timezone)
    name_items(service, page.items, full_names)
    return page


def kept_ranking(service: Service, window: Window, by: str) -> RankedReferrers | None:
    """The whole ranking if it is already kept for this version (no work)."""
    return service.peek(("ranked", by, window))


def referrer_page(
    ranking: Ranking, by: str, limit: int, offset: int, zone: str
) -> models.ReferrerPage:
    """The page's source in the reader's words, times in `zone`."""
    items = [models.Referrer(rank=offset + i, **row) for i, row in enumerate(ranking.rows, 1)]
    source = source_text(ranking, zone)
    return models.ReferrerPage(
        total=ranking.total, limit=limit, offset=offset, by=by, source=source, items=items
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
    if service.stopping:
        return
    lookup = user_lookup(service)
    index = service.live_index(wait=True)
    if index is not None:  # what user pages and networks look up on the event loop
        lookup.aligned(index)
        lookup.columns(np.zeros(1, np.int64), NETWORK_COLUMNS)
    for by in TOP_BY if service.snapshot() is not None else TOP_COUNTS:
        if service.stopping:
            return
        ranked(service, Window(), by)  # every leaderboard's first page


def kocs(
    service: Service, params: KocParams, limit: int, offset: int, full_names: bool = False
) -> models.KocPage:
    """A page of KOC picks; names masked unless `full_names` (api.names)."""
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
        sharers=params.sharers,
        users=chosen.users,
        eligible=chosen.eligible,
        spread=chosen.spread,
        notes=notes_text(chosen.notes),
        items=name_items(service, koc_items(chosen, rows), full_names, "user_id"),
    )


def koc_export(service: Service, params: KocParams, lang: Lang) -> KocExport:
    chosen = koc_list(service, params)
    snapshot = _latest(service)
    made = store_export(service.store, chosen, snapshot, service.settings.reward_tiers, lang)
    service.store.record_export(snapshot.id)  # so pruning keeps what the manifest names
    return made


def _latest(service: Service) -> SavedSnapshot:
    snapshot = service.snapshot()
    if snapshot is None:
        raise SnapshotMissingError("no analysis yet: run one first (POST /v1/analyses)")
    return snapshot


def _community_model(row: dict, names: dict[str, str]) -> models.Community:
    fields = {k: row[k] for k in models.Community.model_fields if k in row}
    return models.Community(**fields, top_user_names=[names.get(u) for u in row["top_users"]])


def communities(
    service: Service, limit: int, offset: int, full_names: bool = False
) -> models.CommunityPage:
    """A page of communities; names masked unless `full_names` (api.names)."""
    snapshot = _latest(service)
    table = snapshot.communities.sort_by([("size", "descending"), ("community", "ascending")])
    page = table.slice(offset, limit).to_pylist()
    names = names_of(service, [u for r in page for u in r["top_users"]], full_names)
    return models.CommunityPage(
        total=table.num_rows,
        limit=limit,
        offset=offset,
        snapshot_id=snapshot.id,
        items=[_community_model(r, names) for r in page],
    )


def community(
    service: Service, community_id: int, limit: int, offset: int, full_names: bool = False
) -> models.CommunityDetail:
    """One community and a page of its members; names masked unless `full_names`."""
    snapshot = _latest(service)
    table = snapshot.communities
    rows = table.filter(pc.equal(table["community"], community_id)).to_pylist()
    if not rows:
        raise CommunityNotFoundError(
            "no community {community_id} in snapshot {snapshot}",
            community_id=community_id,
            snapshot=snapshot.id[:8],
        )
    users = snapshot.users
    members = users.filter(pc.equal(users["community"], community_id)).sort_by(
        [("koc_score", "descending"), ("id", "ascending")]
    )
    page = members.slice(offset, limit).select(["id", "koc_score", "invites", "reach", "flagged"])
    shown = page["id"].to_pylist() + rows[0]["top_users"]
    names = names_of(service, shown, full_names)
    return models.CommunityDetail(
        **_community_model(rows[0], names).model_dump(),
        snapshot_id=snapshot.id,
        members=[models.Member(**r, name=names.get(r["id"])) for r in page.to_pylist()],
        members_total=members.num_rows,
        limit=limit,
        offset=offset,
    )


def cached_queue(service: Service, status: str | None) -> list[QueueEntry]:
    """The review queue of the latest snapshot (graph.review), all of it or
    one status, once per store version."""
    snapshot = service.snapshot()
    return service.cached(("flags", status), lambda: review_queue(service.store, snapshot, status))


def flagged(
    service: Service, status: str | None, limit: int, offset: int, full_names: bool = False
) -> models.FlagPage:
    """A page of the review queue; names masked unless `full_names` (api.names)."""
    snapshot = service.snapshot()
    queue = cached_queue(service, status)
    items = [
        models.FlaggedUser(**{**asdict(e), "flags": flags_in_words(e.flags)})
        for e in queue[offset : offset + limit]
    ]
    return models.FlagPage(
        total=len(queue),
        limit=limit,
        offset=offset,
        snapshot_id=snapshot.id if snapshot else None,
        status=status,
        items=name_items(service, items, full_names, "user_id"),
    )
