"""The order the `score` strategy picks in (graph.analysis.kocs), and the
picks taken from it (with a community quota or without).

With the weighted score: the candidates by KOC score, best first (ties by
position, so by id).

With the learned score the list is picked in two parts (docs/kocs.md,
"The score strategy"):

- **trees**: k − round(sharers · k) users by the learned KOC score (how much
  their referral trees will grow over the next horizon), none inside the
  referral tree of a candidate with a better score: that tree's growth
  already holds theirs, so a second pick there reaches no one new;
- **sharers**: the rest by the learned sharing score (how many users each
  will bring itself), wherever in the trees they are. The users who invite
  the most themselves are rarely the roots of the trees that grow most:
  the first part alone misses them, the second alone misses the trees.

The other candidates follow by KOC score (a community quota, or too few
picks of either kind, takes from them).

Example: 0 referred 1 and 2, 1 referred 3. By score: 1, 0, 2, 3; 2 and 3
sit inside the trees of better-scored users (0's and 1's), so the tree part
takes 1, then 0. Two picks, half of them sharers: 1 as a tree, then the
best sharer, 3.

    >>> import numpy as np
    >>> order, picked_as = score_order(
    ...     np.array([8.0, 9.0, 5.0, 4.0]), np.ones(4, bool),
    ...     sharing=np.array([1.0, 2.0, 0.0, 7.0]), parent=np.array([-1, 0, 0, 1]),
    ...     k=2, sharers=0.5)
    >>> order.tolist(), picked_as
    ([1, 3, 0, 2], {1: 'tree', 3: 'sharer'})
"""

from __future__ import annotations

import numpy as np

from graph.analysis.referral import ancestor_min
from graph.analysis.searchlight import quotas
from graph.store import SavedSnapshot

PICKED_AS = ("tree", "sharer")


def score_order(
    score: np.ndarray,
    eligible: np.ndarray,
    *,
    sharing: np.ndarray | None = None,
    parent: np.ndarray | None = None,
    k: int = 50,
    sharers: float = 0.3,
) -> tuple[np.ndarray, dict[int, str]]:
    """Every eligible user in the order the `score` strategy takes them, and
    what each of the two-part picks was picked as (module docstring).
    Without `sharing` (a weighted score) the order is by score alone."""
    candidates = np.flatnonzero(eligible)
    by_score = candidates[np.lexsort((candidates, -score[candidates]))]
    if sharing is None or parent is None:
        return by_score, {}
    n = len(score)
    rank = np.full(n, np.inf)
    rank[by_score] = np.arange(len(by_score))
    roots = by_score[rank[by_score] < ancestor_min(parent, rank)[by_score]]
    trees = roots[: k - int(sharers * k + 0.5)]
    taken = np.zeros(n, bool)
    taken[trees] = True
    by_sharing = candidates[np.lexsort((candidates, -sharing[candidates]))]
    sharing_picks = by_sharing[~taken[by_sharing]][: k - len(trees)]
    taken[sharing_picks] = True
    order = np.concatenate([trees, sharing_picks, by_score[~taken[by_score]]])
    picked_as = dict.fromkeys(trees.tolist(), "tree")
    picked_as.update(dict.fromkeys(sharing_picks.tolist(), "sharer"))
    return order, picked_as


def sharing_scores(snapshot: SavedSnapshot, metrics: dict[str, np.ndarray]) -> np.ndarray | None:
    """The snapshot's sharing scores (`metrics`, lined up with its graph) when
    it holds a learned score that has them; snapshots saved before the
    sharing score, and weighted ones, do not."""
    users = snapshot.users
    if (snapshot.summary.get("score") or {}).get("kind") != "learned":
        return None
    if "sharing_score" not in users.column_names or users["sharing_score"].null_count:
        return None
    return metrics["sharing_score"]


def first_in_order(
    order: np.ndarray, community: np.ndarray, k: int, quota: str | None
) -> list[int]:
    """The first k of `order`, or with a community quota the first of each
    community up to its quota, then the rest in order."""
    if quota != "community":
        return order[:k].tolist()
    limit = quotas(k, community)
    taken: dict[int, int] = {}
    chosen, rest = [], []
    for u in order.tolist():
        c = int(community[u])
        if taken.get(c, 0) < limit.get(c, 0):
            taken[c] = taken.get(c, 0) + 1
            chosen.append(u)
        else:
            rest.append(u)
        if len(chosen) == k:
            break
    return chosen + rest[: k - len(chosen)]
