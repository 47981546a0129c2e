"""The learned KOC score: features as of a moment, labels over the horizon
after it, the fitted model's contributions, and its fallbacks."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from graph.analysis.kocs import KocParams, choose_kocs
from graph.analysis.learned import MODEL_PARAMS, fit_learned, matrix, predict_distinct, score_with
from graph.analysis.learned_features import (
    LEARNED_FEATURES,
    MONEY_WEIGHT,
    SHARING_FEATURES,
    TREE_DECAY,
    horizon_labels,
    user_features,
)
from graph.analysis.referral import discounted_descendant_sums, referral_metrics
from graph.analysis.snapshot import AnalysisParams, analyze, read_inputs
from graph.analysis.snapshot_tables import SCORE_PARTS
from graph.analysis.tiegraph import TieGraph
from graph.store import Window
from tests.conftest import write_csv

DAY = 86_400_000_000
START = datetime(2024, 1, 1, tzinfo=UTC)


def hand_graph() -> TieGraph:
    """a referred b (day 1), c (day 9) and d (day 20); b referred e (day 25)
    and invited c too; d churned, c and e bought."""
    parent = np.array([-1, 0, 0, 0, 1])
    at = np.array([-1, 1, 9, 20, 25]) * DAY
    converted = np.array([False, False, True, False, True])
    churned = np.array([False, False, False, True, False])
    amount = np.array([0.0, 0.0, 30.0, 0.0, 10.0])
    ids = pa.array(list("abcde"))
    return TieGraph(ids, parent, at, np.array([1]), np.array([2]), converted, churned, amount)


def test_features_by_hand():
    f = user_features(hand_graph(), 30 * DAY, half_life_days=10)
    assert f["invites"].tolist() == [3, 1, 0, 0, 0]
    assert f["kept_invites"].tolist() == [2, 1, 0, 0, 0]
    assert f["reach"].tolist() == [4, 1, 0, 0, 0]
    assert f["gmv"].tolist() == [40, 10, 0, 0, 0]
    # In the last 7 days (after day 23) b's referral of e; in the last 30, all.
    assert f["invites_7d"].tolist() == [0, 1, 0, 0, 0]
    assert f["invites_30d"].tolist() == [3, 1, 0, 0, 0]
    # Last 14 days (after day 16): a's day-20 one; the 14 before: a's day 9.
    assert f["trend_14d"][0] == 0 and f["trend_14d"][1] == 1
    assert f["recent_invites"][0] == pytest.approx(0.5**2.9 + 0.5**2.1 + 0.5**1.0)
    assert f["days_since_last_referral"][:2].tolist() == [10, 5]
    assert np.isnan(f["days_since_last_referral"][2])
    assert np.isnan(f["days_since_referred"][0]) and f["days_since_referred"][4] == 5
    assert f["own_amount"].tolist() == [0, 0, 30, 0, 10]
    assert f["other_invites"].tolist() == [0, 1, 0, 0, 0]
    assert f["pagerank"].sum() == pytest.approx(5)  # × users: sums to n
    # The trees' growth: e (day 25, two steps below a) in the last 7 days;
    # b, c, d and e in the last 30, e counting TREE_DECAY in a's near sum.
    assert f["tree_7d"].tolist() == [1, 1, 0, 0, 0]
    assert f["tree_30d"].tolist() == [4, 1, 0, 0, 0]
    np.testing.assert_allclose(f["tree_30d_near"], [3 + TREE_DECAY, 1, 0, 0, 0])
    assert set(f) == set(LEARNED_FEATURES)


def test_features_reuse_what_the_analysis_computed():
    graph = hand_graph()
    known = referral_metrics(graph.parent, graph.converted, graph.churned, graph.amount)
    fresh = user_features(graph, 30 * DAY, half_life_days=10)
    known["pagerank"], known["core"] = fresh["pagerank"] / graph.n, fresh["core"]
    again = user_features(graph, 30 * DAY, half_life_days=10, known=known)
    for name in LEARNED_FEATURES:
        np.testing.assert_allclose(again[name], fresh[name], err_msg=name)


def test_labels_by_hand():
    graph = hand_graph()
    # From day 9 on: c (a's, bought 30), d (a's, churned: not effective) and
    # e (b's, bought 10). Mean purchase 20.
    effective = ~graph.churned
    labels, held = horizon_labels(graph, 9 * DAY, effective)
    worth_c, worth_e = 1 + MONEY_WEIGHT * 30 / 20, 1 + MONEY_WEIGHT * 10 / 20
    a_label = np.log1p(worth_c + TREE_DECAY * worth_e)  # e two steps down
    b_label = np.log1p(worth_e)
    np.testing.assert_allclose(labels, [a_label, b_label, 0, 0, 0])
    assert held == {"new_referrals": 2, "gmv": 40}
    # The sharing score's label: a user's own new referrals, none from below.
    own, _ = horizon_labels(graph, 9 * DAY, effective, decay=0.0)
    np.testing.assert_allclose(own, [np.log1p(worth_c), b_label, 0, 0, 0])


def test_contributions_add_up_and_equal_lightgbms_own():
    rng = np.random.default_rng(3)
    n = 3000
    features = {name: rng.poisson(1.0, n).astype(float) for name in LEARNED_FEATURES}
    features["days_since_referred"][rng.random(n) < 0.3] = np.nan
    labels = np.log1p(features["invites_7d"] * 2 + features["reach"]) * (rng.random(n) < 0.8)
    booster = fit_learned(features, labels, seed=1)
    learned = score_with(booster, features)
    total = sum(learned.parts[name] for name in LEARNED_FEATURES) + learned.parts["baseline"]
    np.testing.assert_allclose(total, learned.score, atol=1e-9)
    assert learned.score.min() == pytest.approx(0) and learned.score.max() == pytest.approx(100)
    # The grouped explanation is LightGBM's own pred_contrib, row by row.
    own = booster.predict(matrix(features), pred_contrib=True)
    scale = 100 / (own.sum(1).max() - own.sum(1).min())
    for j, name in enumerate(LEARNED_FEATURES):
        np.testing.assert_allclose(learned.parts[name], own[:, j] * scale, atol=1e-9)
    assert MODEL_PARAMS["deterministic"]
    # The sharing score's model, on its own features: one prediction per
    # distinct pattern equals LightGBM's prediction of every row.
    sharing = fit_learned(features, labels, seed=2, names=SHARING_FEATURES)
    every = sharing.predict(matrix(features, names=SHARING_FEATURES))
    np.testing.assert_allclose(predict_distinct(sharing, features, SHARING_FEATURES), every)
    assert "tree_7d" in LEARNED_FEATURES and "tree_7d" not in SHARING_FEATURES


def _sharers(prefix: str, users: int, days: list[int]) -> list[list[str]]:
    rows = []
    for u in range(users):
        for i, day in enumerate(days):
            at = START + timedelta(days=day, hours=u % 24)
            rows.append(["", "join", f"{prefix}{u}", f"{prefix}{u}-{i}", at.isoformat(), "c", ""])
    return rows


@pytest.fixture
def fading(tmp_path, store, ingest):
    """Two kinds of sharers over 90 days: 'old' ones who brought 10 users
    each in the first three weeks and stopped, 'new' ones who started on
    day 40 and keep bringing 4 users a fortnight."""
    old = _sharers("old", 60, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19])
    new = _sharers("new", 60, [40, 47, 54, 61, 68, 75, 82, 89])
    ingest(write_csv(tmp_path / "fading.csv", old + new))
    return store


def test_the_learned_score_learns_that_sharers_fade(fading):
    snapshot = analyze(fading, AnalysisParams(horizon_days=30))
    assert snapshot.score_info["kind"] == "learned", snapshot.score_info
    users = snapshot.users.sort_by([("koc_score", "descending"), ("id", "ascending")])
    top = users["id"].to_pylist()[:60]
    # Everyone old has 10 invites and everyone new 8: the raw count ranks
    # the old first; what comes next is the new ones'.
    assert all(u.startswith("new") for u in top), top[:5]
    row = users.slice(0, 1).to_pylist()[0]
    parts = sum(row[f"score_{p}"] for p in SCORE_PARTS)
    assert parts == pytest.approx(row["koc_score"])
    # The sharing score asks who will bring the most users themselves: the
    # new sharers too (none of them has a tree below it).
    sharing = snapshot.users.sort_by([("sharing_score", "descending"), ("id", "ascending")])
    assert all(u.startswith("new") for u in sharing["id"].to_pylist()[:60])
    assert score_range(sharing["sharing_score"]) == (0, 100)


def score_range(column: pa.ChunkedArray) -> tuple[float, float]:
    values = column.to_numpy()
    return round(float(values.min()), 9), round(float(values.max()), 9)


def test_features_at_the_cutoff_see_nothing_after_it(fading, tmp_path, ingest):
    params = AnalysisParams(horizon_days=30)
    inputs = read_inputs(fading, params)
    cutoff = inputs.tables.last_event_at - timedelta(days=30)
    at_cutoff = fading.read_graph(Window(None, cutoff))
    assert inputs.history.referred.sort_by("invitee_id").equals(
        at_cutoff.referred.sort_by("invitee_id")
    )
    before = user_features(TieGraph.from_tables(inputs.history), 0, 30)
    later = _sharers("late", 10, [60])  # after the cutoff, before the end
    ingest(write_csv(tmp_path / "late.csv", later))
    again = read_inputs(fading, params)
    after = user_features(TieGraph.from_tables(again.history), 0, 30)
    for name in LEARNED_FEATURES:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


def test_too_little_history_keeps_the_weighted_score(tmp_path, store, ingest):
    ingest(write_csv(tmp_path / "short.csv", _sharers("s", 5, [1, 2, 3, 20])))
    snapshot = analyze(store, AnalysisParams(horizon_days=30))
    assert snapshot.score_info["kind"] == "weighted"
    assert "under two horizons of 30 days" in snapshot.score_info["notes"][0]
    assert not snapshot.users["sharing_score"].to_numpy().any()  # learned only
    weighted = analyze(store, AnalysisParams(score="weighted"))
    assert snapshot.users["koc_score"].equals(weighted.users["koc_score"])


def test_a_quiet_last_horizon_keeps_the_weighted_score(tmp_path, store, ingest):
    rows = _sharers("q", 5, [1, 2, 3, 40])
    # An event long after the last referral: the last horizon holds none.
    rows.append(["", "convert", "", "q0-0", (START + timedelta(days=100)).isoformat(), "c", "9"])
    ingest(write_csv(tmp_path / "quiet.csv", rows))
    snapshot = analyze(store, AnalysisParams(horizon_days=30))
    assert snapshot.score_info["kind"] == "weighted"
    assert "nobody brought an effective referral" in snapshot.score_info["notes"][0]


def test_unknown_score_and_horizon_are_refused():
    with pytest.raises(ValueError, match="unknown score 'best'"):
        AnalysisParams(score="best")
    with pytest.raises(ValueError, match="horizon_days"):
        AnalysisParams(horizon_days=0)


def test_the_doctests_hold():
    import graph.analysis.learned_features
    import graph.analysis.referral

    for module in (graph.analysis.learned_features, graph.analysis.referral):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_discounted_tree_sums_by_hand():
    # 0 -> 1 -> 2 -> 3, and 4 <-> 5 a referral loop with 6 below 5.
    parent = np.array([-1, 0, 1, 2, 5, 4, 5])
    values = np.array([0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    got = discounted_descendant_sums(parent, values, 0.5)
    # 0: 1 + 0.5·2 + 0.25·4; 1: 2 + 0.5·4; 2: 4; the loop is cut open, so
    # 5 keeps its child 6 and 4 (5's parent, cut) counts nothing below it.
    assert got.tolist() == [3.0, 4.0, 4.0, 0.0, 0.0, 32.0, 0.0]


def test_no_own_referral_to_learn_from_keeps_the_score_and_no_sharers(tmp_path, store, ingest):
    """u's only new invitee in the last horizon churned, though it brought
    someone who stayed: u's tree grew, its own referrals did not. The KOC
    score is learned; the sharing score has nothing to learn (all 0), so
    the KOC list picks by the score alone."""

    def at(day: int) -> str:
        return (START + timedelta(days=day)).isoformat()

    rows = [
        ["e1", "join", "u", "a1", at(1), "c", ""],
        ["e2", "join", "u", "a2", at(20), "c", ""],
        ["e3", "join", "u", "x", at(75), "c", ""],
        ["e4", "join", "x", "y", at(80), "c", ""],
        ["e5", "churn", "", "x", at(90), "c", ""],
        ["e6", "convert", "", "y", at(100), "c", "12"],
    ]
    ingest(write_csv(tmp_path / "grew.csv", rows))
    snapshot = analyze(store, AnalysisParams(horizon_days=30))
    assert snapshot.score_info["kind"] == "learned", snapshot.score_info
    assert not snapshot.users["sharing_score"].to_numpy().any()
    store.save_snapshot(snapshot.to_saved())
    chosen = choose_kocs(store, store.latest_snapshot(), KocParams(k=2, strategy="score"))
    assert chosen.rows and {r.picked_as for r in chosen.rows} == {""}
