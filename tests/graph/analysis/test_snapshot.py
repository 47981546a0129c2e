from __future__ import annotations

from datetime import UTC, datetime

import networkx as nx
import numpy as np
import pytest

from graph.analysis.snapshot import AnalysisParams, EmptyWindowError, analyze
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine
from tests.conftest import write_csv


def by_id(snapshot) -> dict[str, dict]:
    return {r["id"]: r for r in snapshot.users.to_pylist()}


@pytest.fixture
def campaign_store(tmp_path, store, ingest):
    events, truth = generate_campaign(users=1500, seed=3)
    path = tmp_path / "campaign.parquet"
    write_campaign(events, truth, path, "parquet")
    ingest(path)
    return store


def test_the_same_events_give_the_same_snapshot(campaign_store):
    a, b = analyze(campaign_store), analyze(campaign_store)
    assert a.id != b.id
    assert a.users.equals(b.users) and a.communities.equals(b.communities)
    assert a.modularity == b.modularity and a.watermark == b.watermark == 1


def test_metrics_agree_with_networkx_on_a_generated_campaign(campaign_store):
    snapshot = analyze(campaign_store)
    users = by_id(snapshot)
    con = campaign_store.connection
    referred = con.execute("SELECT referrer_id, invitee_id FROM referred").fetchall()
    invited = con.execute("SELECT inviter_id, invitee_id FROM invited").fetchall()
    tree = nx.DiGraph(referred)
    tree.add_nodes_from(users)
    for uid in list(users)[:: max(1, len(users) // 300)]:
        assert users[uid]["reach"] == len(nx.descendants(tree, uid))
        assert users[uid]["invites"] == tree.out_degree(uid)
    credit = nx.DiGraph([(b, a) for a, b in referred + invited])
    credit.add_nodes_from(users)
    ranks = nx.pagerank(credit, alpha=0.85, tol=1e-14, max_iter=10_000)
    assert max(abs(users[u]["pagerank"] - ranks[u]) for u in users) < 1e-9
    ties = nx.Graph(referred + invited)
    ties.add_nodes_from(users)
    cores = nx.core_number(ties)
    assert all(users[u]["core"] == cores[u] for u in users)
    groups = {}
    for u, row in users.items():
        groups.setdefault(row["community"], set()).add(u)
    assert snapshot.modularity == pytest.approx(nx.community.modularity(ties, groups.values()))
    assert snapshot.communities.num_rows == len(groups)


def test_scores_are_explained_by_their_contributions(campaign_store):
    users = analyze(campaign_store).users
    parts = [c for c in users.column_names if c.startswith("score_")]
    total = np.sum([users[c].to_numpy() for c in parts], axis=0)
    assert np.allclose(total, users["koc_score"].to_numpy())
    assert users["koc_score"].to_numpy().min() >= 0 and users["koc_score"].to_numpy().max() <= 100


def test_communities_table(campaign_store):
    snapshot = analyze(campaign_store)
    table = snapshot.communities.to_pylist()
    users = by_id(snapshot)
    assert sum(c["size"] for c in table) == len(users)
    assert [c["size"] for c in table] == sorted((c["size"] for c in table), reverse=True)
    biggest = table[0]
    members = [u for u in users.values() if u["community"] == biggest["community"]]
    best = sorted(members, key=lambda u: (-u["koc_score"], u["id"]))[:5]
    assert biggest["top_users"] == [u["id"] for u in best]
    converted = campaign_store.connection.execute(
        "SELECT count(*) FROM users WHERE converted_at IS NOT NULL"
    ).fetchall()[0][0]
    assert sum(c["share_converted"] * c["size"] for c in table) == pytest.approx(converted)


def test_an_empty_window_is_refused_and_nothing_is_saved(store, tmp_path, ingest):
    with pytest.raises(EmptyWindowError, match="nobody referred or invited anyone"):
        analyze(store)  # an empty store
    ingest(write_csv(tmp_path / "e.csv", [["", "join", "a", "b", "2024-05-01 12:00:00", "", ""]]))
    store.save_snapshot(analyze(store).to_saved())
    latest = store.latest_snapshot().id
    for window in (
        AnalysisParams(until=datetime(2020, 1, 1, tzinfo=UTC)),
        AnalysisParams(since=datetime(2030, 1, 1, tzinfo=UTC)),  # users, but no referral
        AnalysisParams(campaigns=("spirng",)),
    ):
        with pytest.raises(EmptyWindowError, match="the latest analysis stays") as info:
            analyze(store, window)
        assert "since 2030" in str(info.value) or window.since is None
    assert store.latest_snapshot().id == latest
    # Organic joins alone are nothing to rank either.
    solo = tmp_path / "solo"
    solo.mkdir()
    with EmbeddedStore(solo / "s.duckdb") as alone:
        path = write_csv(solo / "e.csv", [["", "join", "", "x", "2024-05-01 12:00:00", "", ""]])
        ingest_file(alone, path, quarantine=Quarantine(solo / "q.csv"))
        with pytest.raises(EmptyWindowError):
            analyze(alone)


def test_users_without_inviter_score_zero(store, tmp_path, ingest):
    rows = [
        ["", "join", "", "solo", "2024-05-01 12:00:00", "", ""],
        ["", "join", "a", "b", "2024-05-01 12:00:00", "", ""],
    ]
    ingest(write_csv(tmp_path / "e.csv", rows))
    users = {r["id"]: r for r in analyze(store).users.to_pylist()}
    solo = users["solo"]
    assert (solo["invites"], solo["reach"], solo["koc_score"]) == (0, 0, 0.0)
    assert users["a"]["invites"] == 1 and users["a"]["koc_score"] > 0


def test_window_and_campaign_filters(store, tmp_path, ingest):
    ingest(
        write_csv(
            tmp_path / "e.csv",
            [
                ["", "join", "a", "b", "2024-05-01 12:00:00", "spring", ""],
                ["", "join", "a", "c", "2024-06-01 12:00:00", "618", ""],
                ["", "join", "c", "d", "2024-06-02 12:00:00", "618", ""],
                ["", "convert", "", "d", "2024-06-03 12:00:00", "618", "99"],
                ["", "churn", "", "b", "2024-07-01 12:00:00", "", ""],
            ],
        )
    )
    june = AnalysisParams(since=datetime(2024, 6, 1, tzinfo=UTC), campaigns=("618",))
    users = by_id(analyze(store, june))
    assert (users["a"]["invites"], users["a"]["reach"], users["a"]["gmv"]) == (1, 2, 99.0)
    may = by_id(analyze(store, AnalysisParams(until=datetime(2024, 6, 1, tzinfo=UTC))))
    assert set(may) == {"a", "b"} and may["a"]["invites"] == 1
    assert may["a"]["churned_invites"] == 0  # b churned after the window
    everything = by_id(analyze(store))
    assert everything["a"]["churned_invites"] == 1 and everything["a"]["effective_invites"] == 1


def test_bad_params_are_clear():
    with pytest.raises(ValueError, match="unknown signals: fame"):
        AnalysisParams(weights={"fame": 1.0})
    with pytest.raises(ValueError, match="since must be before until"):
        AnalysisParams(
            since=datetime(2025, 1, 1, tzinfo=UTC), until=datetime(2024, 1, 1, tzinfo=UTC)
        )
