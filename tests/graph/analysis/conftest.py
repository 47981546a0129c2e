"""What the analysis tests share: a generated campaign analysed once per module."""

from __future__ import annotations

import pytest

from graph.analysis.snapshot import AnalysisParams, analyze
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine

# Betweenness is not under test here: sampled above 1,000 users, not exact (4 s an analysis).
SAMPLED = AnalysisParams(betweenness_exact_limit=1000)


@pytest.fixture(scope="module")
def analysed_once(tmp_path_factory):
    """A 6,000-user campaign ingested, analysed (the learned score) and saved,
    for the tests that only read it: (store, snapshot, truth)."""
    tmp = tmp_path_factory.mktemp("kocs")
    events, truth = generate_campaign(users=6000, seed=21)
    write_campaign(events, truth, tmp / "campaign.parquet", "parquet")
    store = EmbeddedStore(tmp / "store.duckdb", memory_limit="1GB")
    ingest_file(store, tmp / "campaign.parquet", quarantine=Quarantine(tmp / "q.csv"))
    snapshot = analyze(store, SAMPLED)
    store.save_snapshot(snapshot.to_saved())
    yield store, snapshot, truth
    store.close()
