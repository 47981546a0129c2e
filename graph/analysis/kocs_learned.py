"""The order the `score` strategy picks in (graph.analysis.kocs), and the
picks taken from it (with a community quota or without).

With the weighted score: the candidates by KOC score, best first (ties by
position, so by id).

With the learned score the list is picked in two parts (docs/searchlight.md,
"score — the top KOC scores"), s = round(sharers · k) rounded half up:

- **trees**: k − s users by the learned KOC score (how much their referral
  trees will grow over the next horizon), none inside the referral tree of
  a candidate with a better score: that tree's growth already holds
  theirs, so a second pick there reaches no one new. A referral loop is
  one tree: its best-scored member heads it;
- **sharers**: s users by the learned sharing score (how many users each
  will bring itself), wherever in the trees they are. The users who invite
  the most themselves are rarely the roots of the trees that grow most:
  the first part alone misses them, the second alone misses the trees.

The other candidates follow by KOC score (too few tree roots take from
them). With a community quota each part's places are split across the
communities by size and filled from each community's own members
(`score_picks`).

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

from dataclasses import dataclass

import numpy as np

from graph.analysis.referral import Subtrees
from graph.analysis.searchlight import quotas
from graph.store import SavedSnapshot


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
    ranked = _Ranked.of(score, eligible, sharing, parent)
    return ranked.two_parts(k, sharers) if ranked.learned else (ranked.by_score, {})


@dataclass
class _Ranked:
    """The eligible users by score and by sharing score, and which head a tree."""

    by_score: np.ndarray
    by_sharing: np.ndarray | None = None
    heads: np.ndarray | None = None  # per user

    @property
    def learned(self) -> bool:
        return self.heads is not None

    @classmethod
    def of(
        cls,
        score: np.ndarray,
        eligible: np.ndarray,
        sharing: np.ndarray | None,
        parent: np.ndarray | None,
    ) -> _Ranked:
        candidates = np.flatnonzero(eligible)
        by_score = candidates[np.lexsort((candidates, -score[candidates]))]
        if sharing is None or parent is None:
            return cls(by_score)
        rank = np.full(len(score), np.inf)
        rank[by_score] = np.arange(len(by_score))
        by_sharing = candidates[np.lexsort((candidates, -sharing[candidates]))]
        return cls(by_score, by_sharing, _heads(parent, rank))

    def parts(
        self,
        trees_wanted: int,
        sharers_wanted: int,
        taken: np.ndarray,
        among: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The next tree roots and then sharers not yet `taken` (marked
        taken), of the users `among` selects (a mask over users) or of all."""
        by_score, by_sharing = self.by_score, self.by_sharing
        if among is not None:
            by_score, by_sharing = by_score[among[by_score]], by_sharing[among[by_sharing]]
        trees = by_score[self.heads[by_score] & ~taken[by_score]][:trees_wanted]
        taken[trees] = True
        sharing_picks = by_sharing[~taken[by_sharing]][:sharers_wanted]
        taken[sharing_picks] = True
        return trees, sharing_picks

    def two_parts(self, k: int, sharers: float) -> tuple[np.ndarray, dict[int, str]]:
        taken = np.zeros(len(self.heads), bool)
        s = sharer_count(k, sharers)
        trees, sharing_picks = self.parts(k - s, s, taken)
        order = np.concatenate([trees, sharing_picks, self.by_score[~taken[self.by_score]]])
        return order, _labels(trees, sharing_picks)


def _labels(trees: np.ndarray, sharing_picks: np.ndarray) -> dict[int, str]:
    picked_as = dict.fromkeys(trees.tolist(), "tree")
    picked_as.update(dict.fromkeys(sharing_picks.tolist(), "sharer"))
    return picked_as


def sharer_count(k: int, sharers: float) -> int:
    """round(sharers · k), halves up (0.3 of 5 is 2, 0.5 of 5 is 3); the
    product is rounded to 9 places first, so 0.29 · 50 is the half it means."""
    return int(np.floor(round(sharers * k, 9) + 0.5))


def _heads(parent: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Per user: no ancestor ranks better (lower). The members of a referral
    loop are each other's ancestors, so only the loop's best heads it, and
    the users below the loop have every member above them."""
    trees = Subtrees(parent)
    loop = trees.on_cycle
    best = rank.copy()
    if loop.size:
        # The least rank around each loop, by pointer doubling along it.
        at = np.full(len(parent), -1)
        at[loop] = np.arange(len(loop))
        up, least = at[parent[loop]], rank[loop].copy()
        for _ in range(int(np.ceil(np.log2(len(loop) + 1))) + 1):
            least = np.minimum(least, least[up])
            up = up[up]
        best[loop] = least
    above = trees.ancestor_min(best)
    above[loop] = best[loop]  # a member's loop, itself included
    return rank <= above


def sharing_scores(snapshot: SavedSnapshot, metrics: dict[str, np.ndarray]) -> np.ndarray | None:
    """The snapshot's sharing scores (`metrics`, lined up with its graph) when
    it holds a learned score that has them; snapshots saved before the
    sharing score, and weighted ones, do not."""
    users = snapshot.users
    if (snapshot.summary.get("score") or {}).get("kind") != "learned":
        return None
    if "sharing_score" not in users.column_names or users["sharing_score"].null_count:
        return None
    sharing = metrics["sharing_score"]
    # All equal (all 0 when the sharing model had nothing to learn): no order.
    return sharing if len(sharing) and sharing.max() > sharing.min() else None


def score_picks(
    score: np.ndarray,
    eligible: np.ndarray,
    community: np.ndarray,
    k: int,
    quota: str | None,
    *,
    sharing: np.ndarray | None = None,
    parent: np.ndarray | None = None,
    sharers: float = 0.3,
) -> tuple[list[int], dict[int, str]]:
    """The `score` strategy's k picks and what each was picked as: the first
    k of `score_order`, or with a community quota each community's places
    filled from its own members (with a learned score: the tree part's and
    the sharers' places split across communities by size, each filled with
    the community's tree roots and sharers, then by score), then the rest
    in order."""
    ranked = _Ranked.of(score, eligible, sharing, parent)
    if not ranked.learned:
        return first_in_order(ranked.by_score, community, k, quota), {}
    order, picked_as = ranked.two_parts(k, sharers)
    if quota != "community":
        return order[:k].tolist(), picked_as
    taken = np.zeros(len(score), bool)
    chosen: list[int] = []
    labels: dict[int, str] = {}
    # Each part's places split across communities by size, so a list of
    # many small communities keeps its sharers.
    s = sharer_count(k, sharers)
    tree_quota, sharer_quota = quotas(k - s, community), quotas(s, community)
    for c in sorted(set(tree_quota) | set(sharer_quota)):  # at most k communities
        mine = community == c
        trees, sharing_picks = ranked.parts(
            tree_quota.get(c, 0), sharer_quota.get(c, 0), taken, among=mine
        )
        places = tree_quota.get(c, 0) + sharer_quota.get(c, 0)
        theirs = ranked.by_score[mine[ranked.by_score]]
        fill = theirs[~taken[theirs]][: places - len(trees) - len(sharing_picks)]
        taken[fill] = True
        chosen += trees.tolist() + sharing_picks.tolist() + fill.tolist()
        labels.update(_labels(trees, sharing_picks))
    spill = order[~taken[order]][: k - len(chosen)]
    labels.update({u: picked_as[u] for u in spill.tolist() if u in picked_as})
    return chosen + spill.tolist(), labels


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
