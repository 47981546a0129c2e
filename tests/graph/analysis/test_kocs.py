"""The KOC list end to end on a generated campaign: eligibility, exclusions,
reviews, and the three strategies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from api.reasons import koc_reason, reason_in_words
from graph.analysis.communities import communities
from graph.analysis.kocs import KocParams, SnapshotMissingError, choose_kocs
from graph.analysis.searchlight import quotas
from graph.analysis.snapshot import analyze
from graph.analysis.tiegraph import TieGraph, undirected_graph
from graph.review import review_queue, review_user
from graph.store import GraphTables, Window
from loaders.generator import generate_campaign, write_campaign
from tests.conftest import write_csv
from tests.graph.analysis.conftest import SAMPLED


@pytest.fixture
def analysed(tmp_path, store, ingest):
    events, truth = generate_campaign(users=6000, seed=21)
    path = tmp_path / "campaign.parquet"
    write_campaign(events, truth, path, "parquet")
    ingest(path)
    snapshot = analyze(store, SAMPLED)
    store.save_snapshot(snapshot.to_saved())
    return store, snapshot, truth


def users_of(snapshot) -> dict[str, dict]:
    return {r["id"]: r for r in snapshot.users.to_pylist()}


@pytest.mark.parametrize("strategy", ["coverage", "influence", "score"])
def test_every_pick_is_eligible_and_explained(analysed, strategy):
    store, snapshot, truth = analysed
    chosen = choose_kocs(store, store.latest_snapshot(), KocParams(k=20, strategy=strategy))
    users = users_of(snapshot)
    con = store.connection
    churned = {
        r[0] for r in con.execute("SELECT id FROM users WHERE churned_at IS NOT NULL").fetchall()
    }
    assert len(chosen.rows) == 20 and [r.rank for r in chosen.rows] == list(range(1, 21))
    for row in chosen.rows:
        u = users[row.user_id]
        assert not u["flagged"] and row.user_id not in churned and u["invites"] >= 1
        assert koc_reason(row, strategy) and row.invites == u["invites"] and row.reach == u["reach"]
    shares = [r.lit_share for r in chosen.rows]
    assert shares == sorted(shares) and 0 < shares[-1] <= 1
    assert not set(truth.farm_accounts) & {r.user_id for r in chosen.rows}
    if strategy == "coverage":
        gains = [r.gain for r in chosen.rows]
        assert gains == sorted(gains, reverse=True)  # submodular: gains shrink
    if strategy == "score":  # learned: 14 tree roots by score, then 6 sharers
        assert snapshot.score_info["kind"] == "learned"
        assert [r.picked_as for r in chosen.rows] == ["tree"] * 14 + ["sharer"] * 6
        scores = [r.koc_score for r in chosen.rows[:14]]
        sharing = [r.sharing_score for r in chosen.rows[14:]]
        assert scores == sorted(scores, reverse=True) and sharing == sorted(sharing, reverse=True)
    if strategy == "influence":
        low, high = chosen.spread["monte_carlo_95"]
        assert low <= chosen.spread["estimate"] * 1.05 and high >= chosen.spread["estimate"] * 0.95


def test_score_picks_give_their_two_largest_contributions(analysed_once):
    store, snapshot, _ = analysed_once
    weighted = analyze(store, replace(SAMPLED, score="weighted"))
    assert snapshot.score_info["kind"] == "learned"
    for analysis in (snapshot, weighted):
        saved = analysis.to_saved()
        users = users_of(analysis)
        chosen = choose_kocs(store, saved, KocParams(k=10, strategy="score"))
        for row in chosen.rows:
            words = reason_in_words(users[row.user_id])
            assert words.count(" +") == 2 and "baseline" not in words
            # The reason prints the unrounded score (row.koc_score is rounded to 3 decimals).
            score = users[row.user_id]["koc_score"]
            reason = koc_reason(row, "score")
            assert f"KOC score {score:.1f} ({words})" in reason
            if row.picked_as == "sharer":
                sharing = f"sharing score {users[row.user_id]['sharing_score']:.1f}"
                assert reason.startswith("sharer: expected to bring") and sharing in reason
            else:
                assert reason.startswith(f"KOC score {score:.1f} ({words}); ")
        # the other strategies' reasons are about coverage, not the score
        coverage = choose_kocs(store, saved, KocParams(k=3, strategy="coverage"))
        assert all(r.score_parts == [] and sum(r.new_by_hop) >= 1 for r in coverage.rows)


def test_coverage_beats_score_on_coverage(analysed):
    store, _, _ = analysed
    saved = store.latest_snapshot()
    coverage = choose_kocs(store, saved, KocParams(k=30, strategy="coverage"))
    score = choose_kocs(store, saved, KocParams(k=30, strategy="score"))
    assert coverage.rows[-1].coverage_share >= score.rows[-1].coverage_share


def test_exclusions_and_approvals_change_eligibility(analysed):
    store, snapshot, _ = analysed
    saved = store.latest_snapshot()
    first = choose_kocs(store, saved, KocParams(k=5))
    top = first.rows[0].user_id
    without = choose_kocs(store, saved, KocParams(k=5, exclude=(top,)))
    assert top not in [r.user_id for r in without.rows]
    assert without.eligible == first.eligible - 1
    # A flagged referrer with invitees is out until approved.
    queue = review_queue(store, saved)
    users = users_of(snapshot)
    flagged_referrer = next(e.user_id for e in queue if users[e.user_id]["invites"] >= 1)
    before = choose_kocs(store, saved, KocParams(k=5))
    review_user(store, saved, flagged_referrer, "approved", "known customer", "tester")
    after = choose_kocs(store, saved, KocParams(k=5))
    assert after.eligible == before.eligible + 1


def test_quota_gives_each_large_community_a_pick(analysed):
    store, snapshot, _ = analysed
    saved = store.latest_snapshot()
    chosen = choose_kocs(store, saved, KocParams(k=10, quota="community"))
    communities = [r.community for r in chosen.rows if not r.quota_spill]
    limit = quotas(10, np.array(snapshot.users["community"].to_pylist()))
    assert all(communities.count(c) <= limit[c] for c in communities)
    sizes = {r["community"]: r["size"] for r in snapshot.communities.to_pylist()}
    biggest = sorted(sizes, key=lambda c: (-sizes[c], c))[:3]
    assert set(biggest) <= set(communities)


def test_needs_an_analysis(store):
    with pytest.raises(SnapshotMissingError, match="koc analyze"):
        choose_kocs(store, None, KocParams())
    with pytest.raises(ValueError, match="unknown strategy"):
        KocParams(strategy="vibes")


def test_influence_models_and_every_user_as_a_candidate(analysed_once):
    store, snapshot, truth = analysed_once
    users = users_of(snapshot)
    runs = {
        (model, candidates): choose_kocs(
            store,
            store.latest_snapshot(),
            KocParams(k=10, strategy="influence", model=model, candidates=candidates),
        )
        for model, candidates in [("wc", "eligible"), ("uniform:0.2", "all")]
    }
    for (model, _), chosen in runs.items():
        assert len(chosen.rows) == 10 and chosen.spread["model"] == model
        # IMM's estimate and the Monte-Carlo check are two estimates of one
        # spread: they agree (within 5%), and the ten picks count themselves.
        low, high = chosen.spread["monte_carlo_95"]
        estimate = chosen.spread["estimate"]
        assert low <= estimate * 1.05 and high >= estimate * 0.95, (model, chosen.spread)
        assert chosen.spread["monte_carlo_mean"] >= 10
    assert all(users[r.user_id]["invites"] >= 1 for r in runs[("wc", "eligible")].rows)
    # with every user a candidate, the reward filters no longer apply: a
    # flagged or churned user, or one who invited nobody, may be picked
    everyone = runs[("uniform:0.2", "all")]
    assert [r.user_id for r in everyone.rows] != [r.user_id for r in runs[("wc", "eligible")].rows]
    excluded = everyone.rows[0].user_id
    again = choose_kocs(
        store,
        store.latest_snapshot(),
        KocParams(
            k=10, strategy="influence", model="uniform:0.2", candidates="all", exclude=(excluded,)
        ),
    )
    assert excluded not in {r.user_id for r in again.rows}
    with pytest.raises(ValueError, match="uniform"):
        KocParams(strategy="influence", model="uniform:2")
    with pytest.raises(ValueError, match="one probability"):
        KocParams(strategy="influence", model="wc", engine="gds")


def test_invite_only_data_stops_at_once_with_nobody_to_pick(tmp_path, store, ingest):
    """Invites and no attributed joins: nobody has invited anyone who joined,
    so nobody is eligible and the influence strategy says so without
    sampling; every user as a candidate still picks."""
    rows = [
        ["", "invite", f"u{i}", f"u{j}", f"2024-05-0{1 + (i + j) % 9} 10:00:00", "c", ""]
        for i in range(30)
        for j in range(i + 1, min(30, i + 4))
    ]
    ingest(write_csv(tmp_path / "invites.csv", rows))
    store.save_snapshot(analyze(store).to_saved())
    nobody = choose_kocs(store, store.latest_snapshot(), KocParams(k=5, strategy="influence"))
    assert nobody.rows == [] and nobody.eligible == 0 and nobody.spread is None
    assert any(n.startswith("nobody to pick") for n in nobody.notes)
    assert not any(n.startswith("only 0") for n in nobody.notes)
    anyone = choose_kocs(
        store,
        store.latest_snapshot(),
        KocParams(k=5, strategy="influence", model="uniform:0.5", candidates="all"),
    )
    assert len(anyone.rows) == 5 and anyone.spread["monte_carlo_mean"] > 5


def test_same_snapshot_and_seed_same_picks_whatever_order_the_store_reads(analysed_once):
    """The tie graph is built in one order from tables in any order, so the
    influence picks and their spread only depend on the snapshot and seed."""
    store, snapshot, truth = analysed_once
    tables = store.read_graph(Window())
    rng = np.random.default_rng(5)
    shuffled = GraphTables(
        users=tables.users,
        referred=tables.referred.take(rng.permutation(tables.referred.num_rows)),
        invited=tables.invited.take(rng.permutation(tables.invited.num_rows)),
        devices=tables.devices,
        watermark=tables.watermark,
        last_event_at=tables.last_event_at,
    )
    graphs = [TieGraph.from_tables(t) for t in (tables, shuffled)]
    assert np.array_equal(graphs[0].tie_src, graphs[1].tie_src)
    assert np.array_equal(graphs[0].tie_dst, graphs[1].tie_dst)
    params = KocParams(k=10, strategy="influence", seed=4, simulations=50)
    first, again = (choose_kocs(store, store.latest_snapshot(), params) for _ in range(2))
    assert [r.user_id for r in first.rows] == [r.user_id for r in again.rows]
    assert first.spread == again.spread


def test_communities_in_threads_are_what_they_are_alone(analysed_once):
    """igraph has one random generator per process: two seeded community
    searches at once (as the API's threads may run them) must each find
    what they find alone."""
    store, snapshot, truth = analysed_once
    graph = TieGraph.from_tables(store.read_graph(Window()))
    ties = undirected_graph(graph.n, *graph.undirected_edges())
    alone = {seed: communities(ties, seed=seed)[0].tolist() for seed in (1, 2, 3, 4)}
    with ThreadPoolExecutor(4) as pool:
        found = pool.map(lambda seed: communities(ties, seed=seed)[0].tolist(), (1, 2, 3, 4))
        together = dict(zip((1, 2, 3, 4), found, strict=True))
    assert together == alone
