"""Influence maximisation: learned probabilities by hand, spreads against exact
enumeration of live-edge worlds, seeds against brute force."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pytest

from graph.analysis import influence
from graph.analysis.influence import influence_maximisation, simulate_spread
from graph.analysis.tie_models import edge_probabilities, parse_model, tie_probabilities


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


# -- the literature's models, candidates and bounds (issue 14, item 3) -------------


def test_weighted_cascade_and_uniform_models():
    # 0 referred 1 and 2; 3 invited 2 too: 2 has two ties in, 1 has one
    parent = np.array([-1, 0, 0, -1])
    src, dst, p = tie_probabilities("wc", parent, np.array([3]), np.array([2]), np.zeros(4, bool))
    assert sorted(zip(src.tolist(), dst.tolist(), p.tolist(), strict=True)) == [
        (0, 1, 1.0),
        (0, 2, 0.5),
        (3, 2, 0.5),
    ]
    _, _, flat = tie_probabilities(
        "uniform:0.05", parent, np.array([3]), np.array([2]), np.zeros(4, bool)
    )
    assert flat.tolist() == [0.05, 0.05, 0.05]
    for bad in ("uniform", "uniform:0", "uniform:1.5", "uniform:x", "ic", "wc:0.1"):
        with pytest.raises(ValueError, match="model|uniform"):
            parse_model(bad)


def test_no_candidates_means_no_sampling_at_all():
    n = 2000
    src, dst = np.arange(n - 1), np.arange(1, n)
    result = influence_maximisation(
        n, src, dst, np.full(n - 1, 0.9), np.zeros(n, bool), 50, simulations=10
    )
    assert (result.seeds, result.rr_sets, result.spread) == ([], 0, 0.0)


def test_the_sets_held_are_bounded_by_memory_not_only_by_count():
    # a complete graph with sure ties: every set holds everyone
    n = 200
    a, b = np.meshgrid(np.arange(n), np.arange(n))
    keep = a != b
    src, dst = a[keep].ravel(), b[keep].ravel()
    p = np.ones(len(src))
    capped = influence_maximisation(
        n, src, dst, p, np.ones(n, bool), 5, max_rr_entries=20_000, simulations=5
    )
    assert capped.capped and capped.seeds
    # each set holds all 200 users: sampling stops at the bound, not at θ
    assert capped.rr_sets * n <= 20_000


def test_the_seeds_come_from_sets_that_did_not_fix_theta(monkeypatch):
    """Chen (2018): selecting from the sets that estimated the bound voids
    IMM's guarantee, so the final greedy runs on a fresh sample."""
    made: list = []
    original = influence._RRSets.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(influence._RRSets, "__init__", spy)
    rng = np.random.default_rng(3)
    n = 300
    src, dst = rng.integers(0, n, 1500), rng.integers(0, n, 1500)
    result = influence_maximisation(
        n, src, dst, np.full(1500, 0.05), np.ones(n, bool), 5, simulations=5
    )
    estimation, selection = made
    assert selection.count == result.rr_sets > 0 and estimation.count > 0
    first = np.concatenate(estimation.nodes)[:50]
    assert not np.array_equal(first, np.concatenate(selection.nodes)[:50])


@pytest.mark.parametrize("model", ["wc", "uniform:0.01"])
def test_the_estimate_holds_against_an_independent_simulation_on_a_real_network(model):
    """ego-facebook as events (loaders/edges.py), every user a candidate: IMM's
    own estimate of its 20 seeds' spread against 2,000 independent cascades."""
    from loaders.edges import events_from_edges
    from tests.conftest import shared_data

    events = events_from_edges(shared_data("ego-facebook.txt"), seed=0)
    ids = sorted(set(events["invitee_id"].to_pylist()))
    index = {u: i for i, u in enumerate(ids)}
    joins = events.filter(pa.compute.equal(events["type"], "join")).to_pylist()
    parent = np.full(len(ids), -1)
    for j in joins:
        if j["inviter_id"]:
            parent[index[j["invitee_id"]]] = index[j["inviter_id"]]
    invites = events.filter(pa.compute.equal(events["type"], "invite")).to_pylist()
    ties = {(index[e["inviter_id"]], index[e["invitee_id"]]) for e in invites}
    ties -= {(int(parent[v]), v) for v in range(len(ids)) if parent[v] >= 0}
    tie_src, tie_dst = (np.array(side, np.int64) for side in zip(*sorted(ties), strict=True))
    src, dst, p = tie_probabilities(model, parent, tie_src, tie_dst, np.zeros(len(ids), bool))
    result = influence_maximisation(
        len(ids), src, dst, p, np.ones(len(ids), bool), 20, seed=2, simulations=0
    )
    mean, low, high = simulate_spread(len(ids), src, dst, p, result.seeds, 2000, seed=11)
    assert not result.capped
    assert abs(result.spread - mean) <= max(0.03 * mean, high - low), (result.spread, mean)
