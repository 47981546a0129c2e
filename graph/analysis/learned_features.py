"""What the learned KOC score knows about a user at a moment: features as of
a time `at` and labels over the horizon that follows (graph.analysis.learned).

Features of user u, from the tie graph of the window ending at `at` (so a
feature never sees an event after it):

- the referral metrics (`graph.analysis.referral`): invites, converted,
  churned and kept invites (not churned), conversion rate, reach, depth,
  tier2, tier3, gmv and direct_gmv;
- pagerank × users (so graphs of different sizes give comparable values) and
  the k-core number;
- recency and trend: recent_invites (half-life decayed, as the analysis),
  invites in the last 7 and 30 days, trend_14d (invites in the last 14 days
  minus the 14 before), days since the last referral and since u's own
  referral (NaN when there is none);
- the tree's growth: new users in u's referral tree (every depth) in the
  last 7 and 30 days (tree_7d, tree_30d), and the last 30 days' counted as
  the label counts them, TREE_DECAY per step down (tree_30d_near): a tree
  that grew last month grows next month;
- u's own purchases (own_amount), and other_invites: u's INVITED ties, the
  invites and joins through u's code that did not make u the referrer
  (invites to users who were already in, second codes).

The label of u for a horizon [at, end) counts the effective referrals made
in the horizon (effective: not churned and not judged fraudulent at `end`)
in u's referral tree as the trees stand at `end`:

    worth(v) = 1 + MONEY_WEIGHT · (what v bought) / (the mean purchase)
    label    = log1p(Σ_v worth(v) · TREE_DECAY^(steps from u to v − 1))

so u's own new referrals count fully, their invitees' TREE_DECAY, and so
on down. The sharing label is the same with decay 0: u's own new
referrals only (`horizon_labels(..., decay=0.0)`). u's own referrals lead: the operator rewards u for what u does
next, and a seed far above a large tree must not win on depth alone; the
tree and the money still separate users who bring as many. So it asks
"how much will this user bring next", not "how much did it bring".

Example::

    >>> import numpy as np, pyarrow as pa
    >>> from graph.analysis.tiegraph import TieGraph
    >>> day = 86_400_000_000
    >>> g = TieGraph(pa.array(["a", "b", "c"]), np.array([-1, 0, 0]),
    ...              np.array([-1, 1 * day, 9 * day]), np.zeros(0, np.int64),
    ...              np.zeros(0, np.int64), np.zeros(3, bool), np.zeros(3, bool), np.zeros(3))
    >>> f = user_features(g, 10 * day, half_life_days=30)
    >>> f["invites"].tolist(), f["invites_7d"].tolist(), float(f["days_since_last_referral"][0])
    ([2.0, 0.0, 0.0], [1.0, 0.0, 0.0], 1.0)
"""

from __future__ import annotations

import numpy as np

from graph.analysis.cores import core_numbers
from graph.analysis.kernels import referral_pagerank
from graph.analysis.recency import US_PER_DAY, last_referral_at, recent_invites
from graph.analysis.referral import REFERRAL_METRICS, Subtrees, referral_metrics
from graph.analysis.tiegraph import TieGraph, undirected_graph

LEARNED_FEATURES = (
    "invites",
    "kept_invites",
    "converted_invites",
    "churned_invites",
    "conversion_rate",
    "reach",
    "depth",
    "tier2",
    "tier3",
    "gmv",
    "direct_gmv",
    "pagerank",
    "core",
    "recent_invites",
    "invites_7d",
    "invites_30d",
    "trend_14d",
    "days_since_last_referral",
    "days_since_referred",
    "own_amount",
    "other_invites",
    "tree_7d",
    "tree_30d",
    "tree_30d_near",
)
# The sharing score's model (graph.analysis.learned) asks what a user will
# bring itself: its tree's growth is left out (with it, the sharing picks'
# precision@50 fell from 46% to 38% on a generated 1M campaign).
SHARING_FEATURES = tuple(f for f in LEARNED_FEATURES if not f.startswith("tree_"))
# The label's weights (module docstring): a new user two steps down the
# tree counts TREE_DECAY, three steps TREE_DECAY², ...; purchases count in
# mean purchases. Chosen on generated 50k campaigns (docs/koc-score.md).
TREE_DECAY = 0.4
MONEY_WEIGHT = 0.3


def user_features(
    graph: TieGraph,
    at_us: int,
    half_life_days: float,
    known: dict[str, np.ndarray] | None = None,
    trees: Subtrees | None = None,
) -> dict[str, np.ndarray]:
    """Every feature of `LEARNED_FEATURES` for each user of `graph` as of
    `at_us`. `known` passes metrics an analysis has already computed on this
    same graph (the referral metrics, `pagerank`, `core`), and `trees` its
    referral trees, so they are not computed twice."""
    known = known or {}
    n = graph.n
    metrics = (
        known
        if all(name in known for name in REFERRAL_METRICS)
        else referral_metrics(graph.parent, graph.converted, graph.churned, graph.amount)
    )
    invites = metrics["invites"]
    out = {name: np.asarray(metrics[name], np.float64) for name in REFERRAL_METRICS}
    out["kept_invites"] = out["invites"] - out["churned_invites"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["conversion_rate"] = np.where(invites > 0, out["converted_invites"] / invites, 0.0)
    rank = known.get("pagerank")
    core = known.get("core")
    if rank is None or core is None:
        rank, core = _kernels(graph)
    out["pagerank"] = np.asarray(rank, np.float64) * n
    out["core"] = np.asarray(core, np.float64)
    out.update(_recency(graph, at_us, half_life_days))
    out.update(_tree_growth(graph, at_us, trees or Subtrees(graph.parent)))
    out["own_amount"] = np.where(graph.converted, graph.amount, 0.0)
    out["other_invites"] = np.bincount(graph.tie_src, minlength=n).astype(np.float64)
    return {name: out[name] for name in LEARNED_FEATURES}


def _kernels(graph: TieGraph) -> tuple[np.ndarray, np.ndarray]:
    """PageRank and core numbers exactly as `searchlight_kernels` computes them."""
    low, high = graph.undirected_edges()
    return referral_pagerank(graph), core_numbers(undirected_graph(graph.n, low, high))


def _recency(graph: TieGraph, at_us: int, half_life_days: float) -> dict[str, np.ndarray]:
    n = graph.n
    child = np.flatnonzero(graph.parent >= 0)
    up = graph.parent[child]
    age_days = (at_us - graph.referred_at_us[child]) / US_PER_DAY

    def count(newer_than: float, older_than: float = 0.0) -> np.ndarray:
        inside = (age_days < newer_than) & (age_days >= older_than)
        return np.bincount(up[inside], minlength=n).astype(np.float64)

    last = last_referral_at(graph.parent, graph.referred_at_us)
    referred = graph.referred_at_us
    return {
        "recent_invites": recent_invites(graph.parent, referred, at_us, half_life_days),
        "invites_7d": count(7),
        "invites_30d": count(30),
        "trend_14d": count(14) - count(28, 14),
        "days_since_last_referral": np.where(last >= 0, (at_us - last) / US_PER_DAY, np.nan),
        "days_since_referred": np.where(referred >= 0, (at_us - referred) / US_PER_DAY, np.nan),
    }


def _tree_growth(graph: TieGraph, at_us: int, trees: Subtrees) -> dict[str, np.ndarray]:
    referred = graph.parent >= 0
    age_days = (at_us - graph.referred_at_us) / US_PER_DAY
    week = (referred & (age_days < 7)).astype(np.float64)
    month = (referred & (age_days < 30)).astype(np.float64)
    return {
        "tree_7d": trees.descendant_sums(week, 1.0),
        "tree_30d": trees.descendant_sums(month, 1.0),
        "tree_30d_near": trees.descendant_sums(month, TREE_DECAY),
    }


def horizon_labels(
    end: TieGraph,
    start_us: int,
    effective: np.ndarray,
    decay: float = TREE_DECAY,
    trees: Subtrees | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Per user of `end` (the graph at the horizon's end): the label of the
    module docstring, for referrals made from `start_us` on, `decay` per step
    down the tree (0: the user's own referrals only). `effective` marks the
    users that count (not churned, not judged fraudulent). Also returns what
    the horizon held, for the snapshot's notes. `trees`: `end`'s referral
    trees, when the caller has them."""
    new = (end.parent >= 0) & (end.referred_at_us >= start_us) & effective
    bought = np.where(end.converted & new, end.amount, 0.0)
    mean_purchase = float(end.amount[end.converted].mean()) if end.converted.any() else 0.0
    # Each new user is worth 1 plus its purchases in mean purchases.
    worth = new + (MONEY_WEIGHT * bought / mean_purchase if mean_purchase > 0 else 0.0)
    label = np.log1p((trees or Subtrees(end.parent)).descendant_sums(worth, decay))
    held = {"new_referrals": float(new.sum()), "gmv": float(bought.sum())}
    return label, held
