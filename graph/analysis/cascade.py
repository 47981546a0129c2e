"""Live ties under the independent cascade (IC) model: breadth-first spread
over ties that are each live with their own probability, for many
(set, root) pairs at once. The sampling under influence maximisation's
reverse-reachable sets (`graph.analysis.influence`) and its Monte-Carlo
check (`simulate_spread`).

Example: a chain 0 -> 1 -> 2 with sure ties, spread from 0 in two sets::

    >>> import numpy as np
    >>> ties = Ties(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0, 1.0]))
    >>> sets, nodes = spread_from(ties, 3, np.array([0, 1]), np.array([0, 2]), np.random.default_rng(0))
    >>> sets.tolist(), nodes.tolist()
    ([0, 0, 0, 1], [0, 1, 2, 2])
"""

from __future__ import annotations

import math

import numpy as np

from graph.analysis.tiegraph import concat_ranges, distinct


class Ties:
    """Ties grouped by one endpoint, with their live probabilities: for node
    u, others[ptr[u]:ptr[u + 1]] and p[...]; pmax[u] the largest of its row."""

    def __init__(self, n: int, key: np.ndarray, other: np.ndarray, p: np.ndarray) -> None:
        order = np.argsort(key, kind="stable")
        self.others, self.p = other[order], p[order].astype(np.float32)
        self.ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(key, minlength=n), out=self.ptr[1:])
        self.pmax = np.zeros(n, np.float32)
        np.maximum.at(self.pmax, key, p.astype(np.float32))

    def expand(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which frontier entry, tie index) for every tie of the given nodes."""
        starts = self.ptr[nodes]
        lengths = self.ptr[nodes + 1] - starts
        return np.repeat(np.arange(len(nodes)), lengths), concat_ranges(starts, lengths)


# Ties drawn per block of a breadth-first level: arrays of this size are
# reused by the allocator, where level-sized ones are fresh memory each time
# (page faults cost more than the work on dense graphs).
BLOCK_TIES = 1 << 20
# Rows whose largest probability is below this are thinned (see _live_ties).
THIN_BELOW = 0.3


def _live_ties(csr: Ties, n: int, frontier: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(set, node) keys across the live ties out of the frontier's keys.

    A row of d ties with largest probability q < THIN_BELOW is thinned:
    each tie is proposed with probability q (`_bernoulli_positions`), and a
    proposed tie is live with probability p / q. Every tie is then live
    with probability p, independently, as with one draw per tie, for about
    d * q draws instead of d (learned probabilities are mostly small: a
    fifth of the draws on CollegeMsg). Other rows draw once per tie."""
    sets, nodes = frontier // n, frontier % n
    degree = csr.ptr[nodes + 1] - csr.ptr[nodes]
    q = csr.pmax[nodes]
    mean = degree * q
    # Thinning pays where its draws (about mean + 3 sqrt(mean) + 2) are few
    # next to the row's length: long rows of small probabilities.
    thin = (q < THIN_BELOW) & (4 * (mean + 3 * np.sqrt(mean) + 2) < degree)
    # Thinned rows cost about d * q draws: blocks by that, not by d.
    work = np.where(thin, np.ceil(mean) + 1, degree).astype(np.int64)
    ends = np.cumsum(work)
    cuts = np.searchsorted(ends, np.arange(BLOCK_TIES, int(ends[-1]), BLOCK_TIES))
    found = []
    for block in np.split(np.arange(len(nodes)), np.unique(cuts) + 1):
        dense, sparse = block[~thin[block]], block[thin[block]]
        if dense.size:
            owner, tie = csr.expand(nodes[dense])
            live = rng.random(len(tie), dtype=np.float32) < csr.p[tie]
            found.append(sets[dense][owner[live]] * n + csr.others[tie[live]])
        if sparse.size:
            which, slot = _bernoulli_positions(degree[sparse], q[sparse], rng)
            entry = sparse[which]
            tie = csr.ptr[nodes[entry]] + slot
            live = rng.random(len(tie), dtype=np.float32) * q[entry] < csr.p[tie]
            found.append(sets[entry[live]] * n + csr.others[tie[live]])
    return distinct(np.concatenate(found)) if found else np.empty(0, np.int64)


def _bernoulli_positions(
    length: np.ndarray, q: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """For rows of `length` slots each kept with probability q: (row, slot)
    of the kept slots, drawn as geometric gaps between them (exactly a
    Bernoulli draw per slot, for about length * q draws). A row drawn too
    few gaps for its length goes on from its last kept slot."""
    rows, slots = [], []
    row = np.flatnonzero((q > 0) & (length > 0))
    offset = np.zeros(len(row), np.int64)
    while row.size:
        left = length[row] - offset
        mean = left * q[row]
        m = np.ceil(mean + 3 * np.sqrt(mean) + 2).astype(np.int64)
        which = np.repeat(np.arange(len(row)), m)
        # Geometric gaps (>= 1) by inversion: one uniform and one log each.
        gap = np.floor(np.log1p(-rng.random(len(which))) / np.log1p(-q[row])[which]) + 1
        reach = np.cumsum(gap.astype(np.int64))
        ends = np.cumsum(m)
        reach -= np.repeat(np.r_[0, reach[ends[:-1] - 1]], m)  # cumulative within each row
        slot = reach - 1
        kept = slot < left[which]
        rows.append(row[which[kept]])
        slots.append(offset[which[kept]] + slot[kept])
        short = slot[ends - 1] < left[np.arange(len(row))] - 1  # all m gaps fell inside
        offset = offset[short] + slot[ends - 1][short] + 1
        row = row[short]
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(rows), np.concatenate(slots)


def spread_from(
    csr: Ties, n: int, roots_set: np.ndarray, roots: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first over live ties from each (set, root) pair at once: the
    distinct (set, node) pairs reached, as two arrays sorted by set then node."""
    keys = distinct(roots_set.astype(np.int64) * n + roots)
    frontier = keys
    visited = keys
    while frontier.size:
        cand = _live_ties(csr, n, frontier, rng)
        if not cand.size:
            break
        pos = np.searchsorted(visited, cand)
        seen = pos < len(visited)
        seen[seen] = visited[pos[seen]] == cand[seen]
        frontier = cand[~seen]
        visited = np.sort(np.concatenate([visited, frontier]), kind="stable")
    return visited // n, visited % n


def simulate_spread(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    p: np.ndarray,
    seeds: list[int],
    simulations: int,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Monte-Carlo IC spread of `seeds`: mean and its 95% interval."""
    if not seeds or simulations < 1:
        return 0.0, 0.0, 0.0
    forward = Ties(n, src, dst, p)
    rng = np.random.default_rng(seed)
    sims = np.repeat(np.arange(simulations), len(seeds))
    roots = np.tile(np.asarray(seeds, np.int64), simulations)
    sets, _ = spread_from(forward, n, sims, roots, rng)
    sizes = np.bincount(sets, minlength=simulations).astype(np.float64)
    mean = float(sizes.mean())
    half = 1.96 * float(sizes.std(ddof=1)) / math.sqrt(simulations) if simulations > 1 else 0.0
    return mean, mean - half, mean + half
