"""Snapshots pruned after each analysis (KOC_KEEP_SNAPSHOTS), in the server
and the CLI: the newest are kept, and every snapshot an export named."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from api.cli import app as cli
from graph.embedded import EmbeddedStore
from tests.api.conftest import ADMIN
from tests.api.test_exports import campaign
from tests.conftest import write_csv


def test_the_server_keeps_the_newest_and_the_exported(make_client):
    client = make_client(empty=True, keep_snapshots=2)
    assert client.post("/v1/events", json=campaign(), headers=ADMIN).json()["accepted"] == 49

    def analysis() -> dict:
        job = client.post("/v1/analyses", json={"seed": 1}, headers=ADMIN).json()
        assert job["status"] == "succeeded", job
        return job

    first = analysis()
    assert first["pruned_snapshots"] == 0
    manifest = client.get("/v1/exports/kocs/manifest", params={"k": 3}, headers=ADMIN).json()
    assert manifest["snapshot_id"] == first["snapshot"]["id"]
    jobs = [analysis() for _ in range(3)]
    # The third save pushes the second snapshot past the newest two; the
    # first stays, as an export named it.
    assert [j["pruned_snapshots"] for j in jobs] == [0, 0, 1]
    store = client.app.state.service.store
    assert store.snapshot_ids() == [
        jobs[2]["snapshot"]["id"],
        jobs[1]["snapshot"]["id"],
        first["snapshot"]["id"],
    ]
    assert store.read_snapshot(jobs[0]["snapshot"]["id"]) is None
    latest = client.get("/v1/analyses/latest", headers=ADMIN).json()
    assert latest["id"] == jobs[2]["snapshot"]["id"]


def test_the_cli_says_how_many_it_pruned_and_keeps_what_it_exported(tmp_path, monkeypatch):
    store_path = tmp_path / "s.duckdb"
    monkeypatch.setenv("KOC_STORE_URL", str(store_path))
    monkeypatch.setenv("KOC_QUARANTINE_DIR", str(tmp_path / "q"))
    monkeypatch.setenv("KOC_KEEP_SNAPSHOTS", "1")
    rows = [
        [e["event_id"], "join", e["inviter_id"], e["invitee_id"], e["occurred_at"], "", ""]
        for e in campaign()
    ]
    runner = CliRunner()
    runner.invoke(cli, ["ingest", str(write_csv(tmp_path / "e.csv", rows))], catch_exceptions=False)

    def analyze() -> dict:
        done = runner.invoke(cli, ["analyze", "--json"], catch_exceptions=False)
        return json.loads(done.stdout)

    first = analyze()
    assert first["pruned_snapshots"] == 0
    out = tmp_path / "kocs.csv"
    assert runner.invoke(cli, ["export", "--out", str(out), "--k", "3"]).exit_code == 0
    manifest = json.loads((tmp_path / "kocs.csv.manifest.json").read_text("utf-8"))
    assert manifest["snapshot_id"] == first["id"]
    second = analyze()
    assert second["pruned_snapshots"] == 0  # the first is exported: kept
    shown = runner.invoke(cli, ["analyze"], catch_exceptions=False).stdout
    assert "pruned snapshots" in shown and "1 (keeping the newest 1" in shown
    with EmbeddedStore(store_path, read_only=True) as store:
        ids = store.snapshot_ids()
        assert len(ids) == 2 and ids[1] == first["id"] and second["id"] not in ids
