"""Top referrers: ranked by a live count from the store, or by a metric of
the latest analysis (DESIGN.md, Metrics). Shared by `koc top` and the API.

Live counts (`TOP_COUNTS`) follow every ingest at once; `reach`, `gmv` and
`koc_score` need the graph-wide analysis and come from the latest snapshot,
which must have been computed for the same window.

Every row says whether fraud screening holds the referrer back (`flagged`:
flagged by the latest analysis and not approved on review, with the rules
in `flag_rules`), so a leaderboard never ranks a farmer silently. Before the
first analysis nothing has been screened and `flagged` is None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.analysis.snapshot import AnalysisParams, approved_in
from graph.live_index import LiveIndex
from graph.store import TOP_COUNTS, SavedSnapshot, Store, StoreError, Window

TOP_BY = (*TOP_COUNTS, "reach", "gmv", "koc_score")


@dataclass(frozen=True)
class SnapshotSource:
    """The snapshot a ranking by a metric comes from, for `api/` to put in
    the reader's words: its short id, when it was computed, the window it
    was computed for and how many ingest batches it has not seen."""

    id: str
    computed_at: datetime
    window: Window
    behind: int


@dataclass
class Ranking:
    rows: list[dict]  # id, the ranked count or metric, and context columns
    total: int  # referrers in all pages
    source: str  # "live counts" or the snapshot it comes from, in English
    snapshot: SnapshotSource | None = None  # None: live counts


class IndexOf:
    """The live index a ranking's codes belong to: held by reference (no
    `__dict__`, so the cache does not count the index once per ranking; it
    is pinned there once)."""

    __slots__ = ("index",)

    def __init__(self, index: LiveIndex) -> None:
        self.index = index


@dataclass
class RankedReferrers:
    """A whole ranking, best first, computed once per store version and
    window; every page is a slice of it. `table` holds the ranked count or
    metric and context columns, with `id`, or `code` (users of `coded`, a
    live index: ids are looked up per page, not for every referrer); `held`
    marks the referrers fraud screening holds back (`with_flags`)."""

    table: pa.Table
    held: pa.Table | None
    source: str
    coded: IndexOf | None = None
    snapshot: SnapshotSource | None = None  # None: live counts

    def page(self, limit: int, offset: int = 0) -> Ranking:
        part = self.table.slice(offset, limit)
        if self.coded is not None:
            ids = self.coded.index.ids.take(part["code"])
            part = part.drop_columns(["code"]).add_column(0, "id", ids)
        rows = with_flags(part, self.held).to_pylist()
        return Ranking(rows, self.table.num_rows, self.source, self.snapshot)


def top_referrers(
    store: Store,
    window: Window,
    by: str,
    limit: int,
    offset: int = 0,
    snapshot: SavedSnapshot | None = None,
) -> Ranking:
    """One page of referrers ranked by `by`, then id, straight from the store.
    `snapshot` is the latest analysis when the caller already holds it."""
    check_by(by)
    saved = snapshot or store.latest_snapshot()
    held = held_back(saved, store.reviews())
    if by in TOP_COUNTS:
        rows = store.top_referrers(window, by, limit, offset)
        return Ranking(
            with_flags(rows, held).to_pylist(), store.referrer_count(window), "live counts"
        )
    return rank_by_metric(store, saved, window, by, held).page(limit, offset)


def check_by(by: str) -> None:
    if by not in TOP_BY:
        raise StoreError(
            "cannot rank by {by!r}; choose one of {choices}", by=by, choices=", ".join(TOP_BY)
        )


def rank_live(index: LiveIndex, window: Window, by: str, held: pa.Table | None) -> RankedReferrers:
    """Every referrer of the window ranked by a live count (`TOP_COUNTS`),
    from the in-memory index (`graph.live_index`)."""
    counts = index.top_counts(window)
    metric = getattr(counts, by)
    # Referrers come in code order, and codes sort as ids do: a stable sort
    # by the count alone breaks ties by id.
    order = np.argsort(-metric, kind="stable")
    table = pa.table(
        {
            "code": pa.array(counts.referrers[order]),
            **{name: pa.array(getattr(counts, name)[order], pa.int64()) for name in TOP_COUNTS},
        }
    )
    return RankedReferrers(table, held, "live counts", IndexOf(index))


def rank_by_metric(
    store: Store, saved: SavedSnapshot | None, window: Window, by: str, held: pa.Table | None
) -> RankedReferrers:
    """Every referrer ranked by a metric of the latest analysis (`saved`),
    which must have been computed for the same window; `held` as `held_back`."""
    if saved is None:
        raise SnapshotNeededError(
            "ranking by {by} reads the latest analysis, and there is none yet; run an "
            "analysis first (koc analyze)",
            by=by,
        )
    params = AnalysisParams.from_json(saved.params)
    if window != params.window and window != Window():
        raise SnapshotNeededError(
            "ranking by {by} reads the latest analysis (snapshot {id}, computed for "
            "since={since}, until={until}, campaigns={campaigns}); analyse the same "
            "since/until/campaigns first",
            by=by,
            id=saved.id,
            since=params.since,
            until=params.until,
            campaigns=list(params.campaigns),
        )
    users = saved.users.select(list(dict.fromkeys(["id", by, "invites", "koc_score"])))
    users = users.filter(pc.greater(users[by], 0))  # referrers only
    ranked = users.sort_by([(by, "descending"), ("id", "ascending")])
    source = f"snapshot {saved.id[:8]}, {saved.computed_at:%Y-%m-%d %H:%M} UTC"
    filters = [
        f"{name} {value}"
        for name, value in (
            ("since", params.since),
            ("until", params.until),
            ("campaigns", ", ".join(params.campaigns) or None),
        )
        if value
    ]
    if filters:
        source += "; " + "; ".join(filters)
    behind = store.watermark() - saved.watermark
    if behind > 0:
        source += f"; {behind} newer ingest batch(es) not analysed yet"
    origin = SnapshotSource(saved.id[:8], saved.computed_at, params.window, max(behind, 0))
    return RankedReferrers(ranked, held, source, snapshot=origin)


def held_back(saved: SavedSnapshot | None, reviews: pa.Table) -> pa.Table | None:
    """Users fraud screening holds back: flagged by the latest analysis and not
    approved on review (id, flag_rules); None before the first analysis."""
    if saved is None:
        return None
    users = saved.users.select(["id", "flagged", "flag_rules"])
    flagged = users.filter(users["flagged"])
    flagged = flagged.filter(pc.invert(pa.array(approved_in(reviews, flagged["id"]))))
    return flagged.select(["id", "flag_rules"])


def judged_fraudulent(saved: SavedSnapshot | None, reviews: pa.Table) -> pa.Array:
    """Users whose referrals are not effective: flagged by the latest
    analysis (a flag row) and not approved on review."""
    if saved is None or saved.flags is None:
        return pa.array([], pa.string())
    flagged = pc.unique(saved.flags["user_id"].combine_chunks())
    return flagged.filter(pc.invert(pa.array(approved_in(reviews, flagged))))


def with_flags(rows: pa.Table, held: pa.Table | None) -> pa.Table:
    """`rows` (each with an `id`) with `flagged` and `flag_rules` (module
    docstring); both null for every row before the first analysis."""
    if held is None:
        return rows.append_column("flagged", pa.nulls(rows.num_rows, pa.bool_())).append_column(
            "flag_rules", pa.nulls(rows.num_rows, pa.string())
        )
    at = pc.index_in(rows["id"], value_set=held["id"].combine_chunks())
    rules = held["flag_rules"].combine_chunks().take(at)
    return rows.append_column("flagged", pc.is_valid(at)).append_column("flag_rules", rules)


class SnapshotNeededError(StoreError):
    """The ranking needs an analysis of the same window."""
