"""Searchlight selection: k users whose light covers the most of the user base
(DESIGN.md, Searchlight selection).

Coverage of a set S of users is

    f(S) = Σ_v max_{s ∈ S} w(d(s, v))

where d is the hop distance in the undirected tie graph (REFERRED or INVITED,
either direction), counted up to H hops, and w(0..H) decays with distance
(default H = 2, w = 1, 1, 0.5). f is monotone and submodular, so the greedy
choice (each round, the user with the largest marginal gain) is within
1 - 1/e of the best possible set. Lazy greedy (CELF) gives the same picks
while re-evaluating only the few users whose stale gain could still be the
largest: gains only shrink as the set grows, so an old gain is an upper bound.
Ties go to the lower user position, as in the plain greedy.

With a quota, k is split across communities by size (largest remainder) and
each community gets at most its share; slots a community cannot fill (no
eligible users left) are filled afterwards without the quota.

Example: a star 0-1, 0-2, 0-3 and a separate pair 4-5, picking two::

    >>> import numpy as np
    >>> indptr, indices = csr_from_edges(6, np.array([0, 0, 0, 4]), np.array([1, 2, 3, 5]))
    >>> picks = searchlight(indptr, indices, np.ones(6, bool), k=2)
    >>> [(p.user, p.gain) for p in picks]
    [(0, 4.0), (4, 2.0)]
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

from graph.analysis.tiegraph import concat_ranges, distinct

DEFAULT_HOPS = 2
DEFAULT_HOP_WEIGHTS = (1.0, 1.0, 0.5)


@dataclass
class Pick:
    user: int  # position in the tie graph
    gain: float  # marginal coverage added by this pick
    coverage: float  # f(S) after it
    lit: int  # users with any light after it
    new_by_hop: list[int]  # users first lit by this pick, at hop 0, 1, ...
    communities: dict[int, int] = field(default_factory=dict)  # community -> users it lights
    quota_spill: bool = False  # picked after the community quotas ran out


def csr_from_edges(n: int, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undirected adjacency (indptr, indices) from edge lists, each tie once."""
    src = np.concatenate([a, b]).astype(np.int64)
    dst = np.concatenate([b, a]).astype(np.int64)
    keep = src != dst
    key = distinct(src[keep] * max(n, 1) + dst[keep])
    src, dst = key // max(n, 1), key % max(n, 1)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst


def ball(
    indptr: np.ndarray, indices: np.ndarray, s: int, hops: int, stamp: np.ndarray
) -> list[np.ndarray]:
    """The users at exactly 0, 1, ..., hops ties from s. `stamp` is scratch
    space (n ints) that must not hold the value s + 1 elsewhere."""
    token = s + 1
    stamp[s] = token
    levels = [np.array([s], np.int64)]
    for _ in range(hops):
        frontier = levels[-1]
        if not frontier.size:
            levels.append(frontier)
            continue
        if frontier.size == 1:
            u = int(frontier[0])
            near = indices[indptr[u] : indptr[u + 1]]
        else:
            starts = indptr[frontier]
            near = indices[concat_ranges(starts, indptr[frontier + 1] - starts)]
        near = near[stamp[near] != token]
        near = distinct(near)
        stamp[near] = token
        levels.append(near)
    # Leave no token behind: the next call may use the same scratch.
    for level in levels:
        stamp[level] = -1
    return levels


def walk_bounds(indptr: np.ndarray, indices: np.ndarray, weights: tuple[float, ...]) -> np.ndarray:
    """An upper bound of every user's first gain: Σ_h w_h * (walks of length
    h), since no more users lie at distance h than walks of length h end there."""
    n = len(indptr) - 1
    adjacency = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(n, n))
    walks = np.ones(n)
    bound = weights[0] * walks
    for w in weights[1:]:
        walks = np.minimum(adjacency @ walks, n)
        bound = bound + w * walks
    return bound


def quotas(k: int, community: np.ndarray) -> dict[int, int]:
    """k split across communities in proportion to their sizes (largest
    remainder, ties to the lower community id)."""
    sizes = np.bincount(community)
    share = k * sizes / max(1, sizes.sum())
    base = np.floor(share).astype(np.int64)
    left = k - int(base.sum())
    order = np.lexsort((np.arange(len(sizes)), -(share - base)))
    base[order[:left]] += 1
    return {c: int(q) for c, q in enumerate(base.tolist()) if q > 0}


class _Light:
    """The light cast so far: per user the best w(d) of any pick, and the
    running totals each Pick reports."""

    def __init__(
        self,
        indptr: np.ndarray,
        indices: np.ndarray,
        weights: tuple[float, ...],
        community: np.ndarray | None,
    ) -> None:
        self.indptr, self.indices, self.community = indptr, indices, community
        self.w = np.asarray(weights, np.float64)
        n = len(indptr) - 1
        self.cover = np.zeros(n)
        self.stamp = np.full(n, -1, np.int64)
        self.total, self.lit = 0.0, 0

    def ball(self, s: int) -> list[np.ndarray]:
        return ball(self.indptr, self.indices, s, len(self.w) - 1, self.stamp)

    def gain(self, s: int) -> float:
        """What adding s would add to the coverage now."""
        cover, w = self.cover, self.w
        return float(
            sum(np.maximum(0.0, w[h] - cover[level]).sum() for h, level in enumerate(self.ball(s)))
        )

    def add(self, s: int, quota_spill: bool = False) -> Pick:
        levels = self.ball(s)
        reached = np.concatenate(levels)
        hop = np.repeat(np.arange(len(levels)), [len(x) for x in levels])
        before = self.cover[reached]
        after = np.maximum(before, self.w[hop])
        self.cover[reached] = after
        gain = float((after - before).sum())
        newly = before == 0
        self.total += gain
        self.lit += int(newly.sum())
        touched: dict[int, int] = {}
        if self.community is not None:
            labels, counts = np.unique(self.community[reached], return_counts=True)
            touched = dict(zip(labels.tolist(), counts.tolist(), strict=True))
        return Pick(
            user=s,
            gain=gain,
            coverage=self.total,
            lit=self.lit,
            new_by_hop=np.bincount(hop[newly], minlength=len(levels)).tolist(),
            communities=touched,
            quota_spill=quota_spill,
        )


def coverage_of(
    indptr: np.ndarray,
    indices: np.ndarray,
    chosen: list[int],
    weights: tuple[float, ...] = DEFAULT_HOP_WEIGHTS,
    community: np.ndarray | None = None,
) -> list[Pick]:
    """The picks of users chosen some other way, in their order: what each
    adds to the coverage, so other strategies compare with the searchlight's."""
    light = _Light(indptr, indices, weights, community)
    return [light.add(s) for s in chosen]


def searchlight(
    indptr: np.ndarray,
    indices: np.ndarray,
    eligible: np.ndarray,
    k: int,
    *,
    weights: tuple[float, ...] = DEFAULT_HOP_WEIGHTS,
    community: np.ndarray | None = None,
    quota: bool = False,
) -> list[Pick]:
    """Lazy greedy (CELF) weighted coverage; see the module docstring. Stops
    early when no eligible user would light anything more."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if any(w < 0 for w in weights) or any(
        a < b for a, b in zip(weights, weights[1:], strict=False)
    ):
        raise ValueError("hop weights must be non-negative and not increase with distance")
    if quota and community is None:
        raise ValueError("a community quota needs community labels")
    light = _Light(indptr, indices, weights, community)
    limit = quotas(k, community) if quota else None
    taken: dict[int, int] = {}

    candidates = np.flatnonzero(eligible)
    bounds = walk_bounds(indptr, indices, weights)[candidates]
    heap = list(zip((-bounds).tolist(), candidates.tolist(), [-1] * len(candidates), strict=True))
    heapq.heapify(heap)
    parked: list[tuple[float, int, int]] = []  # candidates of full communities

    picks: list[Pick] = []
    spill = False
    while len(picks) < k:
        if not heap:
            if limit is not None and parked:
                # Quotas could not all be filled: fill the rest freely.
                heap, parked, limit, spill = parked, [], None, True
                heapq.heapify(heap)
                continue
            break
        neg, s, evaluated = heapq.heappop(heap)
        if limit is not None:
            c = int(community[s])
            if taken.get(c, 0) >= limit.get(c, 0):
                parked.append((neg, s, evaluated))
                continue
        round_ = len(picks)
        if evaluated != round_:
            heapq.heappush(heap, (-light.gain(s), s, round_))
            continue
        if -neg <= 0:
            break
        picks.append(light.add(s, quota_spill=spill))
        if community is not None:
            c = int(community[s])
            taken[c] = taken.get(c, 0) + 1
    return picks
