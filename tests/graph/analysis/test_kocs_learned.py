"""The `score` strategy's order with a learned score: tree roots by KOC
score, none inside a better-scored candidate's tree, then sharers by the
sharing score (graph.analysis.kocs_learned)."""

from __future__ import annotations

import doctest
import math
from collections import Counter
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import graph.analysis.kocs_learned
from graph.analysis.kocs import KocParams, choose_kocs, snapshot_graph, with_scores
from graph.analysis.kocs_learned import score_order, sharer_count
from graph.analysis.params import ParamError
from graph.analysis.referral import Subtrees
from graph.analysis.searchlight import quotas
from graph.analysis.tiegraph import TieGraph
from graph.store import Window


def share_of(k: int, sharers: float) -> int:
    """round(sharers · k), halves up, in exact arithmetic."""
    return math.floor(Fraction(str(sharers)) * k + Fraction(1, 2))


def walk_up_order(score, eligible, sharing, parent, k, sharers) -> tuple[list[int], list[int]]:
    """The two parts as the docs say them, one user at a time: a tree pick
    when no ancestor (on a loop: no other member) is an eligible user with a
    better place by score."""
    candidates = sorted(np.flatnonzero(eligible).tolist(), key=lambda u: (-score[u], u))
    place = {u: i for i, u in enumerate(candidates)}
    trees = []
    for u in candidates:
        a, seen = parent[u], {u}
        while a >= 0 and a not in seen and not (a in place and place[a] < place[u]):
            seen.add(a)
            a = parent[a]
        # A loop back to u (a referral cycle) is no ancestor: it does not block.
        if a < 0 or a in seen:
            trees.append(u)
    trees = trees[: k - share_of(k, sharers)]
    rest = sorted(set(candidates) - set(trees), key=lambda u: (-sharing[u], u))
    return trees, rest[: share_of(k, sharers)]


def test_the_order_by_hand():
    # 0 -> 1 -> 3, 0 -> 2; 4 -> 5; 6 <-> 7 a referral loop with 8 below 7.
    parent = np.array([-1, 0, 0, 1, -1, 4, 7, 6, 7])
    score = np.array([50.0, 90, 40, 80, 10, 70, 60, 30, 20])
    sharing = np.array([0.0, 1, 9, 2, 3, 8, 0, 0, 7])
    eligible = np.ones(9, bool)
    eligible[4] = False  # 5's referrer cannot be picked, so it does not block 5
    order, picked_as = score_order(
        score, eligible, sharing=sharing, parent=parent, k=5, sharers=0.4
    )
    # By score: 1 (90), 3 (80, under 1), 5 (70), 6 (60), 0 (50), 2 (40), 7, 8.
    # Trees (3 of 5): 1, 5, 6 (the loop is cut, so 6 has no ancestor).
    # Sharers (2): by sharing among the rest: 2 (9), 8 (7).
    assert picked_as == {1: "tree", 5: "tree", 6: "tree", 2: "sharer", 8: "sharer"}
    assert order.tolist()[:5] == [1, 5, 6, 2, 8]
    assert sorted(order.tolist()) == [0, 1, 2, 3, 5, 6, 7, 8]  # every eligible user once
    weighted, none = score_order(score, eligible)
    assert weighted.tolist() == [1, 3, 5, 6, 0, 2, 7, 8] and none == {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_order_equals_a_walk_up_each_tree(seed):
    rng = np.random.default_rng(seed)
    n = 400
    parent = np.where(rng.random(n) < 0.15, -1, rng.integers(0, n, n))
    parent[parent == np.arange(n)] = -1
    score = rng.integers(0, 30, n).astype(float)  # ties broken by position
    sharing = rng.random(n)
    eligible = rng.random(n) < 0.7
    for k, sharers in ((10, 0.3), (40, 0.5), (25, 0.0), (25, 1.0), (400, 0.0), (300, 0.29)):
        order, picked_as = score_order(
            score, eligible, sharing=sharing, parent=parent, k=k, sharers=sharers
        )
        trees, sharing_picks = walk_up_order(score, eligible, sharing, parent, k, sharers)
        assert order.tolist()[: len(trees) + len(sharing_picks)] == trees + sharing_picks
        assert [u for u, kind in picked_as.items() if kind == "tree"] == trees


def test_a_referral_loop_is_one_tree_and_few_roots_leave_the_rest_to_the_score():
    # 0 <-> 1 a loop, 2 below 1: 0 heads the loop, 1 and 2 are inside it.
    parent, score = np.array([1, 0, 1]), np.array([9.0, 1, 5])
    order, picked_as = score_order(
        score, np.ones(3, bool), sharing=np.zeros(3) + [0, 1, 2], parent=parent, k=3, sharers=0
    )
    # One root only: with no sharers asked for, the rest follow by score.
    assert picked_as == {0: "tree"} and order.tolist() == [0, 2, 1]


def test_the_sharers_are_rounded_half_up():
    assert [sharer_count(5, 0.5), sharer_count(5, 0.3), sharer_count(50, 0.29)] == [3, 2, 15]
    assert [sharer_count(50, 0.3), sharer_count(1, 0.3), sharer_count(7, 1.0)] == [15, 0, 7]


def test_ancestor_min_cuts_referral_loops():
    parent = np.array([-1, 0, 1, 4, 3, 4])  # 3 <-> 4 a loop, 5 below 4
    got = Subtrees(parent).ancestor_min(np.array([1.0, 2, 3, 4, 5, 6]))
    assert got.tolist() == [np.inf, 1, 1, np.inf, np.inf, 5]


@pytest.fixture
def learned(analysed_once):
    store, snapshot, _ = analysed_once
    assert snapshot.score_info["kind"] == "learned"
    return store, snapshot.to_saved()


def test_no_tree_pick_is_inside_an_earlier_ones_tree(learned):
    store, saved = learned
    chosen = choose_kocs(store, saved, KocParams(k=30, strategy="score"))
    trees = [r.user_id for r in chosen.rows if r.picked_as == "tree"]
    sharers = [r.user_id for r in chosen.rows if r.picked_as == "sharer"]
    assert (len(trees), len(sharers)) == (21, 9)
    graph = TieGraph.from_tables(store.read_graph(Window()))
    at = dict(zip(graph.ids.to_pylist(), range(graph.n), strict=True))
    # Picked in score order, so no tree pick sits below an earlier one (a
    # later one may sit above: its tree holds more than the earlier one's).
    place = {at[u]: i for i, u in enumerate(trees)}
    for i, u in enumerate(trees):
        a = graph.parent[at[u]]
        while a >= 0:
            assert place.get(a, i) >= i, u
            a = graph.parent[a]
    assert any(graph.parent[at[u]] >= 0 for u in trees)  # not only roots of the forest
    # The sharers are the best by sharing score of everyone eligible but the
    # tree picks: the same as an all-sharer list without those.
    every = choose_kocs(store, saved, KocParams(k=60, strategy="score", sharers=1.0))
    assert {r.picked_as for r in every.rows} == {"sharer"}
    assert sharers == [r.user_id for r in every.rows if r.user_id not in trees][:9]


def test_a_community_quota_splits_each_part_across_communities(learned):
    store, saved = learned
    chosen = choose_kocs(store, saved, KocParams(k=20, strategy="score", quota="community"))
    community = snapshot_graph(store, saved).metrics["community"]
    s = sharer_count(20, 0.3)
    places = {"tree": quotas(20 - s, community), "sharer": quotas(s, community)}
    for kind, quota in places.items():
        got = Counter(r.community for r in chosen.rows if r.picked_as == kind)
        assert got and all(n <= quota.get(c, 0) for c, n in got.items()), kind
    assert sum(r.picked_as == "sharer" for r in chosen.rows) == s
    assert len({r.user_id for r in chosen.rows}) == len(chosen.rows) == 20


def test_a_weighted_or_older_snapshot_picks_by_score_alone(learned):
    store, saved = learned
    users = saved.users
    # A snapshot saved before the sharing score: the column is missing.
    older = replace(saved, users=users.drop_columns(["sharing_score"]))
    chosen = choose_kocs(store, older, KocParams(k=10, strategy="score"))
    everyone = choose_kocs(store, older, KocParams(k=chosen.eligible, strategy="score"))
    assert {r.picked_as for r in everyone.rows} == {""} and len(everyone.rows) == chosen.eligible
    scores = [r.koc_score_exact for r in everyone.rows]
    assert scores == sorted(scores, reverse=True)
    assert [r.user_id for r in chosen.rows] == [r.user_id for r in everyone.rows[:10]]
    asked = choose_kocs(store, older, KocParams(k=10, strategy="score", sharers=0.5))
    assert [r.user_id for r in asked.rows] == [r.user_id for r in chosen.rows]
    assert any("--sharers has no effect" in n for n in asked.notes)
    assert not any("--sharers" in n for n in chosen.notes)
    # Read back beside a newer one, the embedded store gives the column as nulls.
    at = users.column_names.index("sharing_score")
    nulls = replace(
        saved, users=users.set_column(at, "sharing_score", pa.nulls(len(users), pa.float64()))
    )
    again = choose_kocs(store, nulls, KocParams(k=10, strategy="score"))
    assert [r.user_id for r in again.rows] == [r.user_id for r in chosen.rows]
    assert {r.sharing_score for r in again.rows} == {0.0}
    # The backtest's weighted score beside a learned one is picked as a
    # weighted score is, even from a snapshot that has sharing scores.
    weighted = with_scores(snapshot_graph(store, saved), saved, users["koc_score"].to_numpy())
    again = choose_kocs(store, saved, KocParams(k=10, strategy="score"), weighted)
    assert [r.user_id for r in again.rows] == [r.user_id for r in chosen.rows]
    assert pc.max(users["sharing_score"]).as_py() == pytest.approx(100)


def test_sharers_must_be_a_share_of_the_score_strategy():
    with pytest.raises(ParamError, match="sharers must be between 0 and 1"):
        KocParams(strategy="score", sharers=1.5)
    with pytest.raises(ParamError, match="use it with --strategy score") as raised:
        KocParams(strategy="coverage", sharers=0.5)
    assert raised.value.field == "sharers"


def test_the_doctests_hold():
    assert doctest.testmod(graph.analysis.kocs_learned).failed == 0
