"""Influence maximisation: learned probabilities by hand, spreads against exact
enumeration of live-edge worlds, seeds against brute force."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from graph.analysis.influence import (
    edge_probabilities,
    influence_maximisation,
    simulate_spread,
)


def exact_spread(n, src, dst, p, seeds) -> float:
    """σ(S) by enumerating every live-edge world (few edges only)."""
    total = 0.0
    for live in itertools.product([False, True], repeat=len(src)):
        weight = np.prod([q if on else 1 - q for q, on in zip(p, live, strict=True)])
        g = nx.DiGraph()
        g.add_nodes_from(range(n))
        g.add_edges_from((int(a), int(b)) for a, b, on in zip(src, dst, live, strict=True) if on)
        reached = set(seeds)
        for s in seeds:
            reached |= nx.descendants(g, s)
        total += weight * len(reached)
    return total


def test_probabilities_are_join_rate_times_conversion_lift():
    # 0 referred 1, 2, 3 (2 converted) and invited 4 without a join;
    # 5 referred 6 (no conversion).
    parent = np.array([-1, 0, 0, 0, -1, -1, 5])
    converted = np.array([False, True, True, False, False, False, False])
    src, dst, p = edge_probabilities(parent, np.array([0]), np.array([4]), converted, smoothing=1)
    join_pop, conv_pop = 4 / 5, 2 / 4  # 4 referred of 5 attempts; 2 of 4 converted
    join0 = (3 + join_pop) / (4 + 1)
    conv0 = (2 + conv_pop) / (3 + 1)
    join5 = (1 + join_pop) / (1 + 1)
    conv5 = (0 + conv_pop) / (1 + 1)
    expected = {0: min(1, join0 * conv0 / conv_pop), 5: min(1, join5 * conv5 / conv_pop)}
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (0, 3),
        (0, 4),
        (5, 6),
    ]
    for a, q in zip(src.tolist(), p.tolist(), strict=True):
        assert q == pytest.approx(expected[a])


@pytest.mark.parametrize("seed", range(4))
def test_rr_estimate_and_simulation_agree_with_the_exact_spread(seed):
    rng = np.random.default_rng(seed)
    n = 7
    src = rng.integers(0, n, 9)
    dst = rng.integers(0, n, 9)
    p = rng.uniform(0.1, 0.9, 9)
    result = influence_maximisation(
        n, src, dst, p, np.ones(n, bool), k=2, seed=seed, epsilon=0.1, simulations=4000
    )
    exact = exact_spread(n, src, dst, p, result.seeds)
    assert result.spread == pytest.approx(exact, rel=0.05)
    assert result.mc_low - 0.05 <= exact <= result.mc_high + 0.05
    # The chosen pair is (nearly) the best pair.
    best = max(exact_spread(n, src, dst, p, pair) for pair in itertools.combinations(range(n), 2))
    assert exact >= (1 - 1 / np.e - 0.1) * best
    assert exact >= best * 0.9


def test_seeds_respect_eligibility_and_are_deterministic():
    # Two stars: hub 0 with 6 sure leaves, hub 7 with 3.
    src = np.array([0] * 6 + [7] * 3)
    dst = np.array([1, 2, 3, 4, 5, 6, 8, 9, 10])
    p = np.ones(9)
    eligible = np.ones(11, bool)
    first = influence_maximisation(11, src, dst, p, eligible, k=2, seed=3)
    assert first.seeds == [0, 7]
    assert first.spread == pytest.approx(11.0)
    again = influence_maximisation(11, src, dst, p, eligible, k=2, seed=3)
    assert again.seeds == first.seeds and again.spread == first.spread
    eligible[0] = False
    assert 0 not in influence_maximisation(11, src, dst, p, eligible, k=2, seed=3).seeds


def test_community_quota_spreads_the_seeds():
    src = np.array([0] * 6 + [7] * 3 + [12])
    dst = np.array([1, 2, 3, 4, 5, 6, 8, 9, 10, 13])
    community = np.array([0] * 8 + [1] * 6)  # quotas: one each
    free = influence_maximisation(14, src, dst, np.ones(10), np.ones(14, bool), k=2, seed=1)
    fair = influence_maximisation(
        14, src, dst, np.ones(10), np.ones(14, bool), k=2, seed=1, community=community
    )
    assert free.seeds == [0, 7]
    assert fair.seeds == [0, 12]


def test_simulation_of_a_sure_chain():
    mean, low, high = simulate_spread(
        4, np.array([0, 1, 2]), np.array([1, 2, 3]), np.ones(3), [0], 50
    )
    assert mean == low == high == 4.0
    assert simulate_spread(4, np.array([0]), np.array([1]), np.zeros(1), [0], 10)[0] == 1.0


def test_rejects_bad_parameters():
    with pytest.raises(ValueError, match="k must"):
        influence_maximisation(2, np.array([0]), np.array([1]), np.ones(1), np.ones(2, bool), 0)
    with pytest.raises(ValueError, match="epsilon"):
        influence_maximisation(
            2, np.array([0]), np.array([1]), np.ones(1), np.ones(2, bool), 1, epsilon=1.5
        )
