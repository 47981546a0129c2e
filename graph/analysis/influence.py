"""Influence maximisation under the independent cascade (IC) model: the second
searchlight strategy (DESIGN.md, Searchlight selection).

In the IC model each tie u -> v (inviter to invitee, REFERRED or INVITED)
is live with probability p(u -> v); the spread σ(S) of a seed set S is the
expected number of users reachable from S over live ties, S included.

The probabilities come from a model of the ties (`graph.analysis.tie_models`):
learned from the events by default.

The seeds are chosen with IMM (Tang, Shi and Xiao, SIGMOD 2015): random
reverse-reachable (RR) sets — the users whose live ties reach a random user —
are sampled until their number θ guarantees, with probability 1 - 1/n^ℓ, a
(1 - 1/e - ε)-approximation; then greedy maximum coverage over the RR sets
picks the seeds, from a fresh batch of θ sets (Chen 2018: picking from the
sets that fixed θ voids the guarantee). `max_rr_sets` caps θ to bound the
time and `max_rr_entries` the users stored over all sets to bound the memory
(the result says when a cap bound, and the guarantee then no longer holds);
with no eligible user nothing is sampled. Finally the spread of the chosen
set is simulated (Monte-Carlo) for a mean and a 95% interval.

Example: a chain 0 -> 1 -> 2 with sure ties; one seed reaches everything::

    >>> import numpy as np
    >>> res = influence_maximisation(3, np.array([0, 1]), np.array([1, 2]),
    ...                              np.array([1.0, 1.0]), np.ones(3, bool), k=1, seed=0)
    >>> res.seeds, round(res.spread, 3), res.mc_low == res.mc_high == 3.0
    ([0], 3.0, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graph.analysis.cascade import Ties, simulate_spread, spread_from
from graph.analysis.searchlight import quotas
from graph.analysis.tiegraph import concat_ranges

# Users stored over all reverse-reachable sets before sampling stops (about
# 16 bytes each, and as much again while picking): the memory bound, since
# with high probabilities on a dense graph each set can hold most users.
MAX_RR_ENTRIES = 40_000_000


@dataclass
class InfluencePick:
    user: int
    gain: float  # estimated users added to the spread by this pick
    spread: float  # estimated spread of the seeds so far


@dataclass
class InfluenceResult:
    picks: list[InfluencePick]
    spread: float  # RR-set estimate of σ(S)
    mc_mean: float  # Monte-Carlo mean of σ(S)
    mc_low: float  # 95% interval of the mean
    mc_high: float
    simulations: int
    rr_sets: int
    epsilon: float
    capped: bool  # θ or the memory cap bound: the approximation guarantee does not hold

    @property
    def seeds(self) -> list[int]:
        return [p.user for p in self.picks]


class _RRSets:
    """Random reverse-reachable sets, kept as (set id, node) pairs."""

    CHUNK = 200_000
    CHUNK_ENTRIES = 4_000_000  # stored users a chunk aims at: its arrays stay small
    FIRST = 1_000  # sets in the first chunk, before their size is known

    def __init__(
        self,
        n: int,
        reverse: Ties,
        rng: np.random.Generator,
        max_entries: int,
    ) -> None:
        self.n = n
        self.reverse = reverse
        self.rng = rng
        self.max_entries = max_entries
        self.entries = 0
        self.sets: list[np.ndarray] = []
        self.nodes: list[np.ndarray] = []
        self.count = 0

    def grow(self, target: int) -> bool:
        """Sample sets until there are `target`; False when the memory cap
        (`max_entries` stored users over all sets) stopped it first."""
        while self.count < target:
            room = self.max_entries - self.entries
            if room <= 0:
                return False
            b = min(self.CHUNK, target - self.count)
            # Chunks sized to the room left by the sets' mean size so far; the
            # first, before any is known, as if each held every user.
            if self.count:
                per_set = self.entries / self.count
                b = min(b, max(1, int(min(room, self.CHUNK_ENTRIES) / per_set)))
            else:
                b = min(b, self.FIRST, max(1, room // self.n))
            roots = self.rng.integers(0, self.n, b)
            sets, nodes = spread_from(self.reverse, self.n, np.arange(b), roots, self.rng)
            # int32 halves the memory and the sorts (n and the set count stay
            # far below 2^31: the entries cap bounds both).
            self.sets.append((sets + self.count).astype(np.int32))
            self.nodes.append(nodes.astype(np.int32))
            self.count += b
            self.entries += len(nodes)
        return self.entries <= self.max_entries

    def select(
        self, eligible: np.ndarray, k: int, community: np.ndarray | None = None
    ) -> tuple[list[int], list[int]]:
        """Greedy maximum coverage: k eligible nodes and the sets each newly
        covers; with communities, each gets at most its quota (by size) until
        no community with room has a candidate left."""
        limit = quotas(k, community) if community is not None else None
        taken: dict[int, int] = {}
        sets = np.concatenate(self.sets) if self.sets else np.empty(0, np.int64)
        nodes = np.concatenate(self.nodes) if self.nodes else np.empty(0, np.int64)
        count = np.bincount(nodes, minlength=self.n).astype(np.int64)
        by_node = np.argsort(nodes, kind="stable")
        node_ptr = np.zeros(self.n + 1, np.int64)
        np.cumsum(np.bincount(nodes, minlength=self.n), out=node_ptr[1:])
        set_ptr = np.zeros(self.count + 1, np.int64)
        np.cumsum(np.bincount(sets, minlength=self.count), out=set_ptr[1:])
        covered = np.zeros(self.count, bool)
        score = np.where(eligible, count, -1)  # -1: never pick
        blocked = np.zeros(self.n, bool)  # in a community whose quota is full
        seeds, gains = [], []
        while len(seeds) < k:
            u = int(np.argmax(np.where(blocked, -1, score)))
            if score[u] < 0 or blocked[u]:
                if not blocked.any():
                    break
                # Quotas that cannot be filled: the rest is picked freely.
                blocked[:] = False
                limit = None
                continue
            if limit is not None:
                c = int(community[u])
                taken[c] = taken.get(c, 0) + 1
                if taken[c] >= limit.get(c, 0):
                    blocked |= community == c
            mine = sets[by_node[node_ptr[u] : node_ptr[u + 1]]]
            fresh = mine[~covered[mine]]
            covered[fresh] = True
            seeds.append(u)
            gains.append(len(fresh))
            if fresh.size:
                members = nodes[concat_ranges(set_ptr[fresh], set_ptr[fresh + 1] - set_ptr[fresh])]
                score -= np.bincount(members, minlength=self.n) * (score >= 0)
            score[u] = -1
        return seeds, gains


def _log_binomial(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def influence_maximisation(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    p: np.ndarray,
    eligible: np.ndarray,
    k: int,
    *,
    epsilon: float = 0.1,
    ell: float = 1.0,
    community: np.ndarray | None = None,
    seed: int = 0,
    max_rr_sets: int = 10_000_000,
    max_rr_entries: int = MAX_RR_ENTRIES,
    simulations: int = 200,
) -> InfluenceResult:
    """IMM seed selection, then a Monte-Carlo check of the chosen set's spread.
    With `community` labels the seeds follow the per-community quota."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if not 0 < epsilon < 1:
        raise ValueError("epsilon must be in (0, 1)")
    if n == 0 or not eligible.any():  # nobody to pick: nothing to sample
        return InfluenceResult([], 0.0, 0.0, 0.0, 0.0, 0, 0, epsilon, False)
    k_eff = max(1, min(k, int(eligible.sum())))
    reverse = Ties(n, dst, src, p)
    rng = np.random.default_rng(seed)
    rr = _RRSets(n, reverse, rng, max_rr_entries)
    log_n = math.log(max(n, 2))
    ell = ell * (1 + math.log(2) / log_n)
    log_choose = _log_binomial(n, k_eff)

    # Phase 1: a lower bound of the optimum spread, by halving guesses.
    eps1 = math.sqrt(2) * epsilon
    lam1 = (
        (2 + 2 * eps1 / 3)
        * (log_choose + ell * log_n + math.log(max(math.log2(n), 1.0)))
        * n
        / eps1**2
    )
    lower = 1.0
    capped = False
    for i in range(1, max(2, int(math.log2(n)))):
        x = n / 2**i
        theta_i = math.ceil(lam1 / x)
        if theta_i > max_rr_sets or not rr.grow(theta_i):
            capped = True
            break
        _, gains = rr.select(eligible, k_eff)
        covered = n * sum(gains) / rr.count
        if covered >= (1 + eps1) * x:
            lower = covered / (1 + eps1)
            break

    # Phase 2: enough RR sets for the guarantee, then greedy coverage.
    alpha = math.sqrt(ell * log_n + math.log(2))
    beta = math.sqrt((1 - 1 / math.e) * (log_choose + ell * log_n + math.log(2)))
    lam_star = 2 * n * ((1 - 1 / math.e) * alpha + beta) ** 2 / epsilon**2
    theta = math.ceil(lam_star / lower)
    if theta > max_rr_sets:
        theta, capped = max_rr_sets, True
    # The seeds come from fresh sets, independent of those that set θ: reusing
    # them voids IMM's guarantee (Chen 2018, "An issue in the martingale
    # analysis of the influence maximization algorithm IMM").
    rr = _RRSets(n, reverse, rng, max_rr_entries)
    if not rr.grow(theta):
        capped = True
    seeds, gains = rr.select(eligible, k, community)

    scale = n / rr.count
    picks, total = [], 0.0
    for u, g in zip(seeds, gains, strict=True):
        total += g * scale
        picks.append(InfluencePick(user=u, gain=g * scale, spread=total))
    mean, low, high = simulate_spread(n, src, dst, p, seeds, simulations, seed + 1)
    return InfluenceResult(
        picks=picks,
        spread=total,
        mc_mean=mean,
        mc_low=low,
        mc_high=high,
        simulations=simulations,
        rr_sets=rr.count,
        epsilon=epsilon,
        capped=capped,
    )
