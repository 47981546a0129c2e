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

import pyarrow as pa
import pyarrow.compute as pc

from graph.analysis.snapshot import AnalysisParams, approved_mask
from graph.store import TOP_COUNTS, SavedSnapshot, Store, StoreError, Window

TOP_BY = (*TOP_COUNTS, "reach", "gmv", "koc_score")


@dataclass
class Ranking:
    rows: list[dict]  # id, the ranked count or metric, and context columns
    total: int  # referrers in all pages
    source: str  # "live counts" or the snapshot it comes from


def top_referrers(
    store: Store,
    window: Window,
    by: str,
    limit: int,
    offset: int = 0,
    snapshot: SavedSnapshot | None = None,
) -> Ranking:
    """One page of referrers ranked by `by`, then id. `snapshot` is the latest
    analysis when the caller already holds it."""
    if by not in TOP_BY:
        raise StoreError(f"cannot rank by {by!r}; choose one of {', '.join(TOP_BY)}")
    if by in TOP_COUNTS:
        rows = store.top_referrers(window, by, limit, offset).to_pylist()
        saved = snapshot or store.latest_snapshot()
        return Ranking(
            mark_flagged(store, saved, rows), store.referrer_count(window), "live counts"
        )
    saved = snapshot or store.latest_snapshot()
    if saved is None:
        raise SnapshotNeededError(
            f"ranking by {by} reads the latest analysis, and there is none yet; "
            "run an analysis first (koc analyze)"
        )
    params = AnalysisParams.from_json(saved.params)
    if window != params.window and window != Window():
        raise SnapshotNeededError(
            f"ranking by {by} reads the latest analysis (snapshot {saved.id}, computed for "
            f"since={params.since}, until={params.until}, campaigns={list(params.campaigns)}); "
            "analyse the same since/until/campaigns first"
        )
    users = saved.users.select(list(dict.fromkeys(["id", by, "invites", "koc_score"])))
    users = users.filter(pc.greater(users[by], 0))  # referrers only
    ranked = users.sort_by([(by, "descending"), ("id", "ascending")]).slice(offset, limit)
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
    return Ranking(mark_flagged(store, saved, ranked.to_pylist()), users.num_rows, source)


def mark_flagged(store: Store, saved: SavedSnapshot | None, rows: list[dict]) -> list[dict]:
    """`rows` (one page, each with an `id`) with `flagged` and `flag_rules` set
    from the latest analysis and the reviews (module docstring)."""
    if saved is None:
        return [{**row, "flagged": None, "flag_rules": None} for row in rows]
    ids = pa.array([row["id"] for row in rows], pa.string())
    users = saved.users
    mine = users.filter(pc.is_in(users["id"], value_set=ids))
    mine = mine.filter(mine["flagged"])
    mine = mine.filter(pc.invert(pa.array(approved_mask(store, mine["id"]))))
    held = dict(zip(mine["id"].to_pylist(), mine["flag_rules"].to_pylist(), strict=True))
    return [
        {**row, "flagged": row["id"] in held, "flag_rules": held.get(row["id"])} for row in rows
    ]


class SnapshotNeededError(StoreError):
    """The ranking needs an analysis of the same window."""
