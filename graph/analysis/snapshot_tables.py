"""The tables of an analysis snapshot, built from the computed columns
(DESIGN.md, Analysis snapshot): users, flags, communities."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.analysis.fraud import Screening
from graph.analysis.learned_features import LEARNED_FEATURES
from graph.analysis.score import DEFAULT_WEIGHTS
from graph.analysis.tiegraph import TieGraph

SCORE_KINDS = ("learned", "weighted")
SCORE_SIGNALS = tuple(DEFAULT_WEIGHTS)
# Every snapshot has a `score_<part>` column for each: the parts of its score
# (the weighted score's signals, or the learned score's baseline and
# features), the others 0. One schema, whichever score a snapshot holds.
SCORE_PARTS = (
    "baseline",
    *SCORE_SIGNALS,
    *(f for f in LEARNED_FEATURES if f not in SCORE_SIGNALS),
)
TOP_USERS_PER_COMMUNITY = 5

USER_COLUMNS = (
    "community",
    "invites",
    "converted_invites",
    "churned_invites",
    "fraudulent_invites",
    "effective_invites",
    "conversion_rate",
    "reach",
    "depth",
    "tier2",
    "tier3",
    "gmv",
    "direct_gmv",
    "pagerank",
    "bridging",
    "betweenness",
    "core",
    "last_referral_at",
    "recent_invites",
    "koc_score",
    "sharing_score",
    "flagged",
    "risk",
)

# Evidence keys that hold a user position, written out as the user's id.
_USER_EVIDENCE = ("referrer", "head")


def users_table(graph: TieGraph, metrics: dict[str, np.ndarray]) -> pa.Table:
    columns: dict[str, pa.Array] = {"id": graph.ids}
    for name in USER_COLUMNS:
        values = metrics[name]
        if name == "last_referral_at":
            columns[name] = pa.array(values, mask=values < 0).cast(pa.timestamp("us", tz="UTC"))
        else:
            columns[name] = pa.array(values)
    zeros = np.zeros(graph.n)
    for part in SCORE_PARTS:
        columns[f"score_{part}"] = pa.array(metrics.get(f"score_{part}", zeros), pa.float64())
    return pa.table(columns)


def flag_rules(n: int, screening: Screening) -> pa.Array:
    """Per user, the rules that flagged it, comma-separated (null if none)."""
    rules: dict[int, str] = {}
    for f in screening.flags:
        rules[f.user] = f"{rules[f.user]},{f.rule}" if f.user in rules else f.rule
    # Few users are flagged: take from their strings, the rest point at a null.
    slot = np.full(n, len(rules), np.int64)
    slot[list(rules)] = np.arange(len(rules))
    return pc.take(pa.array([*rules.values(), None], pa.string()), pa.array(slot))


def flags_table(graph: TieGraph, screening: Screening) -> pa.Table:
    flags = screening.flags
    users = pc.take(graph.ids, pa.array([f.user for f in flags], pa.int64()))
    evidence = []
    for f in flags:
        e = dict(f.evidence)
        for key in _USER_EVIDENCE:
            if key in e:
                e[key] = graph.ids[e[key]].as_py()
        evidence.append(json.dumps(e, ensure_ascii=False, sort_keys=True))
    return pa.table(
        {
            "user_id": users,
            "rule": pa.array([f.rule for f in flags], pa.string()),
            "reason": pa.array([f.reason for f in flags], pa.string()),
            "evidence": pa.array(evidence, pa.string()),
        }
    )


def communities_table(
    graph: TieGraph, label: np.ndarray, low: np.ndarray, high: np.ndarray, score: np.ndarray
) -> pa.Table:
    k = int(label.max()) + 1 if graph.n else 0
    size = np.bincount(label, minlength=k)
    inside = label[low] == label[high]
    internal = np.bincount(label[low[inside]], minlength=k)
    converted = np.bincount(label, weights=graph.converted, minlength=k)
    # Top users per community: sort by (community, -score, id order) and keep
    # the first few of each community, as one list array.
    order = np.lexsort((np.arange(graph.n), -score, label))
    first = np.searchsorted(label[order], np.arange(k))
    rank = np.arange(graph.n) - first[label[order]]
    kept = order[rank < TOP_USERS_PER_COMMUNITY]
    offsets = np.concatenate([[0], np.cumsum(np.minimum(size, TOP_USERS_PER_COMMUNITY))])
    top_users = pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), pc.take(graph.ids, pa.array(kept, pa.int64()))
    )
    return pa.table(
        {
            "community": pa.array(np.arange(k, dtype=np.int64)),
            "size": pa.array(size.astype(np.int64)),
            "internal_ties": pa.array(internal.astype(np.int64)),
            "share_converted": pa.array(np.divide(converted, np.maximum(size, 1))),
            "top_users": top_users,
        }
    )
