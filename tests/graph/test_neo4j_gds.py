"""The gds engine (graph.neo4j_gds) on the real server, compared with the
Python engine on the same store: PageRank, k-core, communities,
betweenness and components must agree, and CELF's picks must spread as
far as our IMM's under the same probability. Plus the errors a user meets
when GDS cannot run."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from api.cli import app
from graph import cypher
from graph.analysis.influence import influence_maximisation, simulate_spread
from graph.analysis.kocs import KocParams, choose_kocs, snapshot_graph
from graph.analysis.snapshot import AnalysisParams, Snapshot, analyze
from graph.analysis.tie_models import tie_probabilities
from graph.analysis.tiegraph import TieGraph
from graph.ingest import ingest_file
from graph.neo4j_gds import GdsUnavailableError, connect, gds_celf, open_session
from graph.store import StoreError, Window
from loaders.edges import NetworkTruth, events_from_edges
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine
from tests.conftest import (
    NEO4J_PASSWORD,
    NEO4J_URL,
    fresh_neo4j_store,
    needs_neo4j,
    shared_data,
)
from tests.graph.recording_runner import URL, RecordingRunner

CAMPAIGN = "618拼团"


def on_neo4j(test):
    """Runs against the real server (skipped without one, counted with one)."""
    for mark in needs_neo4j:
        test = mark(test)
    return test


def _agree(ours: Snapshot, theirs: Snapshot, *, exact_betweenness: bool = True) -> None:
    """The issue's yardstick: PageRank within 1e-4 with rank correlation
    0.999, k-core and components identical, modularity within 0.01; the
    exact betweenness equal where it was computed exactly."""
    assert ours.users["id"] == theirs.users["id"]
    mine, gds = ours.users["pagerank"].to_numpy(), theirs.users["pagerank"].to_numpy()
    assert np.abs(mine - gds).max() < 1e-4
    assert spearmanr(mine, gds).statistic >= 0.999
    assert abs(gds.sum() - 1) < 1e-9
    assert ours.users["core"] == theirs.users["core"]
    assert ours.components == theirs.components
    assert abs(ours.modularity - theirs.modularity) <= 0.01
    if exact_betweenness:
        np.testing.assert_allclose(
            theirs.users["betweenness"].to_numpy(), ours.users["betweenness"].to_numpy(), atol=1e-6
        )
    # what does not come from GDS is the same computation on the same read
    for column in ("invites", "reach", "depth", "gmv", "flagged", "risk"):
        assert ours.users[column] == theirs.users[column], column
    assert theirs.summary()["engine"] == "gds"


@pytest.fixture(scope="module")
def campaign_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gds")
    store = fresh_neo4j_store()
    events, truth = generate_campaign(users=1500, seed=9)
    write_campaign(events, truth, tmp / "events.csv", "csv")
    ingest_file(store, tmp / "events.csv", quarantine=Quarantine(tmp / "q.csv"))
    yield store
    store.close()


@pytest.fixture(scope="module")
def campaign_runs(campaign_store):
    """(ours, GDS's) analysis of the campaign, by window, each made once."""
    made: dict[str, tuple[Snapshot, Snapshot]] = {}

    def runs(name: str) -> tuple[Snapshot, Snapshot]:
        if name not in made:
            params = AnalysisParams(campaigns=(CAMPAIGN,) if name == "one campaign" else ())
            gds = AnalysisParams(**{**params.__dict__, "engine": "gds"})
            made[name] = analyze(campaign_store, params), analyze(campaign_store, gds)
        return made[name]

    return runs


@on_neo4j
@pytest.mark.parametrize("window", ["everything", "one campaign"])
def test_gds_agrees_with_our_engine_on_a_generated_campaign(campaign_store, campaign_runs, window):
    ours, theirs = campaign_runs(window)
    _agree(ours, theirs)
    assert {"gds:project", "pagerank", "core", "communities", "betweenness"} <= set(
        theirs.stage_seconds
    )
    if window == "one campaign":
        assert theirs.users.num_rows == ours.users.num_rows
        assert theirs.referred_edges < campaign_runs("everything")[1].referred_edges
    # the projection is gone afterwards: nothing of ours left in GDS's catalog
    session = open_session(campaign_store)
    left = [g.graph_name for g in session.client.graph.list()]
    assert not [name for name in left if name.startswith("searchlight-")]


@on_neo4j
def test_gds_leiden_is_seeded_and_sampled_betweenness_scaled_like_ours(
    campaign_store, campaign_runs
):
    """Same seed, same communities. Above the exact limit both engines
    sample sources and scale by users / samples: estimates of one quantity."""
    exact = campaign_runs("everything")[1]
    sampled = analyze(
        campaign_store,
        AnalysisParams(engine="gds", betweenness_exact_limit=100, betweenness_samples=500),
    )
    assert sampled.users["community"] == exact.users["community"]
    truth = exact.users["betweenness"].to_numpy()
    estimate = sampled.users["betweenness"].to_numpy()
    assert not np.array_equal(truth, estimate)
    assert abs(estimate.sum() / truth.sum() - 1) < 0.25
    top = np.argsort(-truth)[:20]
    assert spearmanr(truth[top], estimate[top]).statistic > 0.5


@on_neo4j
def test_cli_analyze_and_influence_kocs_with_the_gds_engine(campaign_store, monkeypatch):
    monkeypatch.setenv("KOC_STORE_URL", NEO4J_URL)
    monkeypatch.setenv("KOC_NEO4J_PASSWORD", NEO4J_PASSWORD or "")
    runner = CliRunner()
    done = runner.invoke(app, ["analyze", "--engine", "gds", "--json"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert '"engine": "gds"' in done.stdout
    assert campaign_store.latest_snapshot().summary["engine"] == "gds"
    picked = runner.invoke(
        app,
        ["kocs", "--strategy", "influence", "--engine", "gds", "--k", "5", "--json"],
        catch_exceptions=False,
    )
    assert picked.exit_code == 0, picked.output
    assert '"engine": "gds"' in picked.stdout and "CELF" in picked.stdout


def _imm_and_celf(store, probability: float, k: int = 10) -> tuple[float, float]:
    """Spreads of IMM's and of CELF's k picks, every user a candidate and
    every tie live with `probability`, both by our Monte-Carlo (2,000 runs)."""
    graph = TieGraph.from_tables(store.read_graph(Window()))
    child = np.flatnonzero(graph.parent >= 0)
    src = np.concatenate([graph.parent[child], graph.tie_src])
    dst = np.concatenate([child, graph.tie_dst])
    p = np.full(len(src), probability)
    everyone = np.ones(graph.n, bool)
    imm = influence_maximisation(graph.n, src, dst, p, everyone, k, seed=1, simulations=0)
    session = open_session(store)
    celf = gds_celf(session, Window(), graph.ids, everyone, k, probability, simulations=100, seed=1)
    assert len(celf.seeds) == k and celf.skipped == 0
    ours = simulate_spread(graph.n, src, dst, p, imm.seeds, 2000, seed=5)[0]
    return ours, simulate_spread(graph.n, src, dst, p, celf.seeds, 2000, seed=5)[0]


@on_neo4j
def test_celf_spreads_as_far_as_our_imm_under_one_probability(campaign_store):
    """Same ties, same uniform probability, every user a candidate: the
    spread of CELF's picks and of IMM's, both by our Monte-Carlo, within 3%."""
    ours, theirs = _imm_and_celf(campaign_store, probability=0.3)
    assert abs(theirs - ours) / ours <= 0.03, (ours, theirs)


@on_neo4j
def test_celf_picks_only_eligible_users_and_reports_both_spreads(campaign_store, campaign_runs):
    snapshot = campaign_runs("everything")[0]
    campaign_store.save_snapshot(snapshot.to_saved())
    chosen = choose_kocs(
        campaign_store,
        campaign_store.latest_snapshot(),
        KocParams(k=8, strategy="influence", engine="gds", simulations=100),
    )
    assert len(chosen.rows) == 8
    users = {r["id"]: r for r in snapshot.users.to_pylist()}
    for row in chosen.rows:
        assert not users[row.user_id]["flagged"] and users[row.user_id]["invites"] >= 1
    spread = chosen.spread
    assert spread["engine"] == "gds" and 0 < spread["uniform_probability"] <= 1
    # The reported check under one probability is a Monte-Carlo of these
    # picks over these ties: a longer, independent run of our own lands in
    # its interval (widened 5%); the eight picks count themselves.
    graph = snapshot_graph(campaign_store, campaign_store.latest_snapshot()).graph
    src, dst, _ = tie_probabilities(
        "learned", graph.parent, graph.tie_src, graph.tie_dst, graph.converted
    )
    picks = pc.index_in(pa.array([r.user_id for r in chosen.rows]), value_set=graph.ids)
    again = simulate_spread(
        graph.n,
        src,
        dst,
        np.full(len(src), spread["uniform_probability"]),
        picks.to_numpy().tolist(),
        2000,
        seed=5,
    )[0]
    low, high = spread["uniform_monte_carlo_95"]
    assert low * 0.95 <= again <= high * 1.05, (again, spread)
    assert spread["monte_carlo_mean"] >= 8 and spread["uniform_monte_carlo_mean"] >= 8
    assert any("one probability for every tie" in n for n in chosen.notes)


@pytest.fixture(scope="module")
def facebook_store(tmp_path_factory):
    """ego-facebook (4,039 real users, 88,234 ties) turned into events, one
    invite a friendship (no invites back: half the ingest, and the tie count
    the literature's uniform p = 0.01 is usually quoted for)."""
    source = shared_data("ego-facebook.txt")
    tmp = tmp_path_factory.mktemp("facebook")
    events = events_from_edges(source, seed=0, invite_back=False)
    truth = NetworkTruth(seed=0, users=4039, source=source.name, kind="pairs")
    write_campaign(events, truth, tmp / "events.csv", "csv")
    store = fresh_neo4j_store()
    ingest_file(store, tmp / "events.csv", quarantine=Quarantine(tmp / "q.csv"))
    yield store
    store.close()


@on_neo4j
def test_gds_agrees_with_our_engine_on_a_real_friendship_network(facebook_store):
    # Betweenness sampled here (exact on 4,039 dense users costs ~6 s on each
    # side); its exact agreement is checked on the generated campaign.
    sampled = {"betweenness_exact_limit": 1000}
    ours = analyze(facebook_store, AnalysisParams(**sampled))
    theirs = analyze(facebook_store, AnalysisParams(engine="gds", **sampled))
    assert ours.users.num_rows == 4039
    _agree(ours, theirs, exact_betweenness=False)


@on_neo4j
def test_celf_spreads_as_far_as_our_imm_on_the_real_network(facebook_store):
    """Same ties, one probability, every user a candidate: CELF's picks and
    IMM's spread within 3% of each other, both by our Monte-Carlo. (At
    p = 0.02 CELF's picks fall ~5% short: GDS 2.13's CELF optimises a cascade
    that reaches further than the independent cascade, docs/analysis.md.)"""
    # 0.01: the literature's usual uniform probability
    ours, theirs = _imm_and_celf(facebook_store, probability=0.01)
    assert abs(theirs - ours) / ours <= 0.03, (ours, theirs)


# -- errors ----------------------------------------------------------------------


def test_the_gds_engine_on_an_embedded_store_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("KOC_STORE_URL", str(tmp_path / "store.duckdb"))
    result = CliRunner().invoke(app, ["analyze", "--engine", "gds"])
    assert result.exit_code != 0
    assert "runs inside Neo4j" in result.output and "--engine searchlight" in result.output
    bad = CliRunner().invoke(app, ["analyze", "--engine", "spark"])
    assert bad.exit_code != 0 and "unknown engine 'spark'" in bad.output


def test_a_server_without_gds_is_named_with_gds_version():
    def no_gds(params: dict) -> list[dict]:
        # what describe_error makes of the server's answer
        raise StoreError(
            "Neo4j at x failed: Neo.ClientError.Statement.SyntaxError "
            "Unknown function 'gds.version'"
        )

    runner = RecordingRunner({cypher.GDS_VERSION: no_gds})
    with pytest.raises(GdsUnavailableError, match=r"`RETURN gds.version\(\)` failed"):
        connect(runner, object(), None, URL, lambda window: {})
    # any other failure is not called a missing GDS
    runner = RecordingRunner(
        {
            cypher.GDS_VERSION: lambda p: (_ for _ in ()).throw(
                StoreError("Neo4j at x failed: Neo.ClientError.Security.Forbidden")
            )
        }
    )
    with pytest.raises(StoreError, match="Forbidden") as raised:
        connect(runner, object(), None, URL, lambda window: {})
    assert not isinstance(raised.value, GdsUnavailableError)


def test_kocs_refuse_gds_for_other_strategies_and_quotas():
    with pytest.raises(ValueError, match="influence only"):
        KocParams(strategy="coverage", engine="gds")
    with pytest.raises(ValueError, match="quotas"):
        KocParams(strategy="influence", engine="gds", quota="community")
