"""Referral metrics over the REFERRED forest (DESIGN.md, Metrics).

For user u, with REFERRED edges directed referrer -> invitee:

- invites: users u referred directly (tier 1); converted_invites and
  churned_invites: of those, converted / churned;
- reach: the number of users reachable from u (`nx.descendants`), u excluded;
- depth: the largest shortest-path distance from u to a user it reaches;
- tier2, tier3: users at distance exactly 2 and 3;
- gmv: amount converted by the users u reaches; direct_gmv: by its invitees.

Every user has at most one referrer, so the graph is a forest plus, rarely,
a cycle per component (mutual referrals, e.g. a reward ring). Trees are
summed bottom-up level by level in columns; the few users on a cycle get an
exact breadth-first search.

Example::

    >>> import numpy as np

    >>> m = referral_metrics(np.array([-1, 0, 1, 1]), np.zeros(4, bool),
    ...                      np.zeros(4, bool), np.array([0, 5.0, 1.0, 2.0]))
    >>> m["reach"].tolist(), m["depth"].tolist(), m["gmv"].tolist()
    ([3, 2, 0, 0], [2, 1, 0, 0], [8.0, 3.0, 0.0, 0.0])
"""

from __future__ import annotations

from collections import deque

import numpy as np

from graph.analysis.tiegraph import concat_ranges, distinct

# The columns `referral_metrics` returns.
REFERRAL_METRICS = (
    "invites",
    "converted_invites",
    "churned_invites",
    "reach",
    "depth",
    "tier2",
    "tier3",
    "gmv",
    "direct_gmv",
)


def referral_metrics(
    parent: np.ndarray, converted: np.ndarray, churned: np.ndarray, amount: np.ndarray
) -> dict[str, np.ndarray]:
    n = len(parent)
    child = np.flatnonzero(parent >= 0)
    up = parent[child]
    invites = np.bincount(up, minlength=n).astype(np.int64)
    out = {
        "invites": invites,
        "converted_invites": np.bincount(up, weights=converted[child], minlength=n).astype(
            np.int64
        ),
        "churned_invites": np.bincount(up, weights=churned[child], minlength=n).astype(np.int64),
        "direct_gmv": np.bincount(up, weights=amount[child], minlength=n),
    }
    tier2 = np.bincount(up, weights=invites[child], minlength=n).astype(np.int64)
    out["tier2"] = tier2
    out["tier3"] = np.bincount(up, weights=tier2[child], minlength=n).astype(np.int64)

    on_cycle = _cycle_members(parent)
    forest = parent.copy()
    forest[on_cycle] = -1  # cut each cycle open: every node now has a root
    reach, depth, gmv = _subtree_sums(forest, amount)
    out.update(reach=reach, depth=depth, gmv=gmv)
    if on_cycle.size:
        _exact_for(on_cycle, parent, amount, out)
    return out


def children_index(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR of children: the children of u are kids[offsets[u]:offsets[u + 1]]."""
    n = len(parent)
    child = np.flatnonzero(parent >= 0)
    kids = child[np.argsort(parent[child], kind="stable")]
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(parent[child], minlength=n), out=offsets[1:])
    return offsets, kids


def _levels(parent: np.ndarray) -> list[np.ndarray]:
    """Nodes by distance from their root, for a parent array without cycles."""
    offsets, kids = children_index(parent)
    frontier = np.flatnonzero(parent < 0)
    levels = []
    while frontier.size:
        levels.append(frontier)
        starts = offsets[frontier]
        frontier = kids[concat_ranges(starts, offsets[frontier + 1] - starts)]
    return levels


def _subtree_sums(forest: np.ndarray, amount: np.ndarray):
    n = len(forest)
    reach = np.zeros(n, np.int64)
    depth = np.zeros(n, np.int64)
    gmv = np.zeros(n, np.float64)
    for level in reversed(_levels(forest)[1:]):
        up = forest[level]
        np.add.at(reach, up, reach[level] + 1)
        np.add.at(gmv, up, gmv[level] + amount[level])
        np.maximum.at(depth, up, depth[level] + 1)
    return reach, depth, gmv


def _cycle_members(parent: np.ndarray) -> np.ndarray:
    """Users on a referral cycle: those left after peeling users no one points to."""
    n = len(parent)
    indegree = np.bincount(parent[parent >= 0], minlength=n)
    alive = np.ones(n, bool)
    leaves = np.flatnonzero(indegree == 0)
    while leaves.size:
        alive[leaves] = False
        up = parent[leaves]
        up = up[up >= 0]
        np.subtract.at(indegree, up, 1)
        up = distinct(up)
        leaves = up[(indegree[up] == 0) & alive[up]]
    return np.flatnonzero(alive)


def _exact_for(nodes: np.ndarray, parent: np.ndarray, amount: np.ndarray, out: dict) -> None:
    offsets, kids = children_index(parent)
    for u in nodes.tolist():
        seen = {u: 0}
        queue = deque([u])
        while queue:
            x = queue.popleft()
            for y in kids[offsets[x] : offsets[x + 1]].tolist():
                if y not in seen:
                    seen[y] = seen[x] + 1
                    queue.append(y)
        del seen[u]
        dist = np.fromiter(seen.values(), np.int64, len(seen))
        reached = np.fromiter(seen.keys(), np.int64, len(seen))
        out["reach"][u] = len(seen)
        out["depth"][u] = int(dist.max()) if len(seen) else 0
        out["tier2"][u] = int((dist == 2).sum())
        out["tier3"][u] = int((dist == 3).sum())
        out["gmv"][u] = float(amount[reached].sum())


class Subtrees:
    """The REFERRED trees, their levels computed once, so many passes over them
    (the backtest's root sets, the learned score's tree sums) cost one level
    walk each. In `containing` a referral cycle is reached as a whole from a
    root on it; `descendant_sums` and `ancestor_min` cut cycles open.

        >>> trees = Subtrees(np.array([-1, 0, 1, -1]))
        >>> trees.containing(np.array([False, True, False, False])).tolist()
        [False, True, True, False]
    """

    def __init__(self, parent: np.ndarray) -> None:
        self.parent = parent
        self.on_cycle = _cycle_members(parent)
        self.forest = parent.copy()
        self.forest[self.on_cycle] = -1
        self.levels = _levels(self.forest)[1:]
        self._kids: tuple[np.ndarray, np.ndarray] | None = None

    def containing(self, roots: np.ndarray) -> np.ndarray:
        """Per user: it is one of `roots` (a bool mask) or below one."""
        marked = roots.copy()
        if self.on_cycle.size:
            if self._kids is None:
                self._kids = children_index(self.parent)
            offsets, kids = self._kids
            for u in self.on_cycle[marked[self.on_cycle]].tolist():
                queue = deque([u])
                while queue:
                    x = queue.popleft()
                    for y in kids[offsets[x] : offsets[x + 1]].tolist():
                        if not marked[y]:
                            marked[y] = True
                            queue.append(y)
        for level in self.levels:
            marked[level] |= marked[self.forest[level]]
        return marked

    def descendant_sums(self, values: np.ndarray, decay: float) -> np.ndarray:
        """`discounted_descendant_sums` over these trees."""
        below = np.zeros(len(self.parent))
        values = np.asarray(values, np.float64)
        for level in reversed(self.levels):
            below += np.bincount(
                self.forest[level],
                weights=values[level] + decay * below[level],
                minlength=len(below),
            )
        return below

    def ancestor_min(self, values: np.ndarray) -> np.ndarray:
        """Per user u: the least of values[a] over u's ancestors a (its
        referrer, theirs, and so on up to the root); +inf for a root. Users
        on a referral cycle are cut from it (each a root).

            >>> Subtrees(np.array([-1, 0, 1, 1])).ancestor_min(np.array([5.0, 3, 1, 9])).tolist()
            [inf, 5.0, 3.0, 3.0]
        """
        least = np.full(len(self.parent), np.inf)
        values = np.asarray(values, np.float64)
        for level in self.levels:
            up = self.forest[level]
            least[level] = np.minimum(least[up], values[up])
        return least


def discounted_descendant_sums(parent: np.ndarray, values: np.ndarray, decay: float) -> np.ndarray:
    """Per user u: Σ over the users v u reaches of values[v] · decay^(d − 1),
    d the distance from u to v: a direct invitee counts fully, one two steps
    down `decay`, three steps `decay²`. Users on a referral cycle are cut
    from it (their descendants off the cycle still count).

        >>> discounted_descendant_sums(np.array([-1, 0, 1, 1]), np.ones(4), 0.5).tolist()
        [2.0, 2.0, 0.0, 0.0]
    """
    return Subtrees(parent).descendant_sums(values, decay)
