"""Backtest: do the KOCs we would have picked at a cutoff predict the
referrals that came after it?

Picks are made from the events before the cutoff only (a fresh analysis with
`until = cutoff`, not saved). They are then measured on the referrals made in
[cutoff, cutoff + horizon):

- `tree_share`: the share of those new referrals made by a pick or by anyone
  in a pick's referral tree (as the trees stand at the end of the horizon, so
  users who joined under a pick during the horizon count);
- `precision_at_k`: the share of the picks among the top-k referrers of the
  horizon (by new referrals, ties by id).

Strategies (`coverage`, `influence`, and the top KOC scores: `learned` when
the analysis at the cutoff could learn, and always `weighted`, so the two
scores are compared on the same picks' rules) are compared with baselines:
the top k by invites and by PageRank before the cutoff, and k users drawn at
random among those with an invite (the mean of `RANDOM_DRAWS` draws).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.analysis.kocs import STRATEGIES, KocParams, choose_kocs, snapshot_graph, with_scores
from graph.analysis.referral import Subtrees
from graph.analysis.score import koc_score
from graph.analysis.snapshot import AnalysisParams, analyze
from graph.analysis.snapshot_tables import SCORE_SIGNALS
from graph.analysis.tiegraph import TieGraph
from graph.store import Store, Window
from loaders.errors import Note

BASELINES = ("top_invites", "top_pagerank", "random")
# A pick's note under its strategy's name: the same in both languages.
OF_PICKS = "{name}: {note}"
RANDOM_DRAWS = 20


@dataclass
class BacktestRow:
    name: str
    kind: str  # strategy or baseline
    picks: int
    tree_share: float
    precision_at_k: float
    seconds: float = 0.0


@dataclass
class Backtest:
    cutoff: datetime
    horizon_days: float
    k: int
    users_before: int
    new_referrals: int
    future_top_k: int
    rows: list[BacktestRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "cutoff": self.cutoff.isoformat(),
            "horizon_days": self.horizon_days,
            "k": self.k,
            "users_before": self.users_before,
            "new_referrals": self.new_referrals,
            "future_top_k": self.future_top_k,
            "rows": [vars(r) for r in self.rows],
            "notes": self.notes,
        }


def backtest(
    store: Store,
    cutoff: datetime,
    *,
    k: int = 50,
    horizon_days: float = 30.0,
    params: AnalysisParams | None = None,
    strategies: tuple[str, ...] = STRATEGIES,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Backtest:
    if k < 1:
        raise ValueError("k must be at least 1")
    if horizon_days <= 0:
        raise ValueError("the horizon must be positive")
    params = replace(params or AnalysisParams(), until=cutoff)
    if params.since and params.since >= cutoff:
        raise ValueError("the cutoff must come after --since")
    end = cutoff + timedelta(days=horizon_days)

    def say(stage: str) -> None:
        if progress:
            progress(stage)

    say(Note("analysing the events before the cutoff"))
    before = analyze(store, params)
    saved = before.to_saved()
    users_before = before.users.num_rows

    say(Note("reading the horizon"))
    after = store.read_graph(Window(params.since, end, params.campaigns))
    graph = TieGraph.from_tables(after)
    new = (graph.parent >= 0) & (graph.referred_at_us >= int(cutoff.timestamp() * 1e6))
    new_referrers = graph.parent[new]
    result = Backtest(cutoff, horizon_days, k, users_before, int(new.sum()), 0)
    if not new.any():
        result.notes.append(Note("no referrals in the horizon: nothing to measure"))
    counts = np.bincount(new_referrers, minlength=graph.n)
    # Top-k of the horizon: by new referrals, then id (ids are sorted).
    ranked = np.lexsort((np.arange(graph.n), -counts))
    future_top = set(ranked[:k][counts[ranked[:k]] > 0].tolist())
    result.future_top_k = len(future_top)

    trees = Subtrees(graph.parent)

    def measure(name: str, kind: str, chosen_ids: list[str], seconds: float) -> BacktestRow:
        where = pc.index_in(pa.array(chosen_ids, pa.string()), value_set=graph.ids)
        chosen = where.drop_null().to_numpy().astype(np.int64)
        roots = np.zeros(graph.n, bool)
        roots[chosen] = True
        inside = trees.containing(roots)
        share = float(inside[new_referrers].mean()) if new_referrers.size else 0.0
        hits = len(future_top & set(chosen.tolist()))
        return BacktestRow(name, kind, len(chosen_ids), share, hits / k, round(seconds, 3))

    # The picks' graph is read once for every strategy.
    prepared = snapshot_graph(store, saved) if strategies else None
    learned = before.score_info.get("kind") == "learned"
    result.notes += [
        Note("learned score: {note}", note=note) for note in before.score_info.get("notes", [])
    ]
    for strategy in strategies:
        named = [(strategy, prepared)]
        if strategy == "score":
            weighted, _ = koc_score(
                {s: users_column(before.users, s) for s in SCORE_SIGNALS}, params.weights
            )
            named = [("learned", prepared)] if learned else []
            named.append(("weighted", with_scores(prepared, saved, weighted)))
        for name, picked_from in named:
            say(Note("picking with {name}", name=name))
            started = time.perf_counter()
            choice = KocParams(k=k, strategy=strategy, seed=seed)
            kocs = choose_kocs(store, picked_from.snapshot, choice, picked_from)
            result.notes += [Note(OF_PICKS, name=name, note=note) for note in kocs.notes]
            result.rows.append(
                measure(
                    name, "strategy", [r.user_id for r in kocs.rows], time.perf_counter() - started
                )
            )

    say(Note("baselines"))
    users = before.users
    ids = users["id"].to_pylist()
    for name, column in (("top_invites", "invites"), ("top_pagerank", "pagerank")):
        values = users[column].to_numpy()
        order = np.lexsort((np.arange(len(values)), -values))[:k]
        result.rows.append(measure(name, "baseline", [ids[i] for i in order], 0.0))
    inviters = np.flatnonzero(users["invites"].to_numpy() > 0)
    rng = np.random.default_rng(seed)
    draws = [
        measure("random", "baseline", [ids[i] for i in rng.choice(inviters, k, replace=False)], 0)
        for _ in range(RANDOM_DRAWS)
        if len(inviters) >= k
    ]
    if draws:
        result.rows.append(
            BacktestRow(
                "random",
                "baseline",
                k,
                float(np.mean([d.tree_share for d in draws])),
                float(np.mean([d.precision_at_k for d in draws])),
            )
        )
    else:
        result.notes.append(Note("fewer than k={k} users with an invite: no random baseline", k=k))
    return result


def users_column(users: pa.Table, name: str) -> np.ndarray:
    return users[name].to_numpy(zero_copy_only=False).astype(np.float64)
