"""Searchlight coverage against a plain greedy and a brute-force optimum,
both written directly from the definition with networkx distances."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.analysis.searchlight import ball, csr_from_edges, quotas, searchlight

WEIGHTS = (1.0, 1.0, 0.5)


def random_graph(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, m), rng.integers(0, n, m)


def light(graph: nx.Graph, hops: int, weights) -> dict[int, dict[int, float]]:
    """light[s][v] = w(d(s, v)) for every v within `hops` of s."""
    return {
        s: {v: weights[d] for v, d in nx.single_source_shortest_path_length(graph, s, hops).items()}
        for s in graph
    }


def coverage(lit: dict[int, dict[int, float]], chosen) -> float:
    best: dict[int, float] = {}
    for s in chosen:
        for v, w in lit[s].items():
            best[v] = max(best.get(v, 0.0), w)
    return sum(best.values())


def plain_greedy(lit, eligible, k):
    chosen: list[int] = []
    gains = []
    for _ in range(k):
        base = coverage(lit, chosen)
        best, best_gain = None, 0.0
        for s in sorted(lit):
            if s in chosen or not eligible[s]:
                continue
            gain = coverage(lit, [*chosen, s]) - base
            if gain > best_gain:
                best, best_gain = s, gain
        if best is None:
            break
        chosen.append(best)
        gains.append(best_gain)
    return chosen, gains


def nx_graph(n, a, b) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from((int(x), int(y)) for x, y in zip(a, b, strict=True) if x != y)
    return g


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    density=st.floats(0.0, 2.5),
    k=st.integers(1, 8),
    seed=st.integers(0, 10_000),
    weights=st.sampled_from([(1.0, 1.0, 0.5), (1.0, 0.5), (1.0, 0.75, 0.5, 0.25), (1.0,)]),
)
def test_lazy_greedy_equals_plain_greedy(n, density, k, seed, weights):
    a, b = random_graph(n, int(n * density), seed)
    eligible = np.random.default_rng(seed + 1).random(n) < 0.7
    indptr, indices = csr_from_edges(n, a, b)
    picks = searchlight(indptr, indices, eligible, k, weights=weights)
    lit = light(nx_graph(n, a, b), len(weights) - 1, weights)
    chosen, gains = plain_greedy(lit, eligible, k)
    assert [p.user for p in picks] == chosen
    assert [p.gain for p in picks] == pytest.approx(gains)
    assert picks[-1].coverage == pytest.approx(coverage(lit, chosen)) if picks else not chosen
    # Every pick's "lit" counts the users with any light so far.
    for i, p in enumerate(picks):
        assert p.lit == len(set().union(*(lit[s] for s in chosen[: i + 1])))


@pytest.mark.parametrize("seed", range(12))
def test_at_least_1_minus_1_over_e_of_the_optimum(seed):
    n = 11
    a, b = random_graph(n, 12, seed)
    g = nx_graph(n, a, b)
    lit = light(g, 2, WEIGHTS)
    indptr, indices = csr_from_edges(n, a, b)
    for k in (1, 2, 3):
        picks = searchlight(indptr, indices, np.ones(n, bool), k)
        optimum = max(coverage(lit, c) for c in itertools.combinations(range(n), k))
        assert picks[-1].coverage >= (1 - 1 / math.e) * optimum - 1e-9
        assert picks[-1].coverage <= optimum + 1e-9


def test_ball_gives_exact_hop_levels_and_leaves_scratch_clean():
    a, b = random_graph(200, 400, 5)
    g = nx_graph(200, a, b)
    indptr, indices = csr_from_edges(200, a, b)
    stamp = np.full(200, -1, np.int64)
    for s in range(0, 200, 7):
        levels = ball(indptr, indices, s, 3, stamp)
        dist = nx.single_source_shortest_path_length(g, s, 3)
        for h, level in enumerate(levels):
            assert sorted(level.tolist()) == sorted(v for v, d in dist.items() if d == h)
        assert (stamp == -1).all()


def test_ineligible_users_are_never_picked_but_still_count_as_lit():
    # Hub 0 is not eligible; its leaves 1..5 each light the hub and each other.
    a = np.array([0, 0, 0, 0, 0])
    b = np.array([1, 2, 3, 4, 5])
    indptr, indices = csr_from_edges(6, a, b)
    eligible = np.array([False, True, True, True, True, True])
    picks = searchlight(indptr, indices, eligible, 2)
    assert picks[0].user == 1
    assert picks[0].gain == 1 + 1 + 0.5 * 4  # itself, the hub, the hub's other leaves
    assert picks[1].gain == 0.5  # another leaf only upgrades itself from 0.5 to 1
    assert picks[0].new_by_hop == [1, 1, 4]


def test_stops_when_nothing_more_can_be_lit():
    indptr, indices = csr_from_edges(3, np.array([0, 1]), np.array([1, 2]))
    picks = searchlight(indptr, indices, np.ones(3, bool), 5, weights=(1.0, 1.0))
    assert [p.user for p in picks] == [1]
    assert picks[0].lit == 3


def test_quota_splits_k_across_communities_by_size():
    assert quotas(10, np.array([0] * 60 + [1] * 30 + [2] * 10)) == {0: 6, 1: 3, 2: 1}
    assert quotas(2, np.array([0, 0, 1, 1, 2, 2])) == {0: 1, 1: 1}  # ties: lower id
    # Two stars in community 0, one smaller star in community 1.
    a = np.array([0, 0, 0, 0, 5, 5, 5, 10, 10])
    b = np.array([1, 2, 3, 4, 6, 7, 8, 11, 12])
    community = np.array([0] * 9 + [1] * 4)
    indptr, indices = csr_from_edges(13, a, b)
    free = searchlight(indptr, indices, np.ones(13, bool), 2)
    assert [p.user for p in free] == [0, 5]
    fair = searchlight(indptr, indices, np.ones(13, bool), 2, community=community, quota=True)
    assert [p.user for p in fair] == [0, 10]
    assert fair[1].communities == {1: 3}  # 10, 11 and 12
    assert not any(p.quota_spill for p in fair)


def test_quota_slots_a_community_cannot_fill_are_filled_freely():
    a = np.array([0, 0, 0, 5, 5])
    b = np.array([1, 2, 3, 6, 7])
    community = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    eligible = np.ones(8, bool)
    eligible[5:] = False  # community 1 has nobody to pick
    indptr, indices = csr_from_edges(8, a, b)
    picks = searchlight(indptr, indices, eligible, 2, community=community, quota=True)
    assert [p.user for p in picks] == [0, 4]
    assert [p.quota_spill for p in picks] == [False, True]


@pytest.mark.parametrize("weights", [(1.0, 2.0), (1.0, -0.5)])
def test_rejects_weights_that_grow_or_go_negative(weights):
    indptr, indices = csr_from_edges(2, np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="hop weights"):
        searchlight(indptr, indices, np.ones(2, bool), 1, weights=weights)
