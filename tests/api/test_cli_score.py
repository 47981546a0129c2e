"""`koc analyze` and the KOC score it holds: learned or weighted, the
options and settings that choose it, and parts that add up to it."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from api.reasons import reason_in_words
from graph.analysis.learned_features import LEARNED_FEATURES
from graph.analysis.score import DEFAULT_WEIGHTS
from graph.embedded import EmbeddedStore
from tests.conftest import write_csv


def latest_users(tmp_path) -> pa.Table:
    store = EmbeddedStore(tmp_path / "store.duckdb", read_only=True)
    try:
        return store.latest_snapshot().users
    finally:
        store.close()


def column(users: pa.Table, part: str) -> np.ndarray:
    return users[f"score_{part}"].to_numpy()


def test_analyze_says_which_score_it_holds_and_its_parts_add_up(campaign, koc, tmp_path):
    summary = json.loads(koc("analyze", "--json").stdout)  # the default: learned
    info = summary["score"]
    assert (info["kind"], info["horizon_days"], info["notes"]) == ("learned", 30, [])
    users = latest_users(tmp_path)
    baseline = column(users, "baseline")
    assert baseline.min() == baseline.max() > 0  # the same for everyone
    total = baseline + sum(column(users, f) for f in LEARNED_FEATURES)
    assert np.allclose(total, users["koc_score"].to_numpy())
    assert not column(users, "bridging").any() and not column(users, "effective_invites").any()
    top = {r["id"]: r for r in users.to_pylist()}
    assert all(k["top_reason"] == reason_in_words(top[k["id"]]) for k in summary["top_kocs"])
    assert all("baseline" not in k["top_reason"] for k in summary["top_kocs"])
    human = koc("analyze", "--horizon", 45).stdout
    assert "KOC score: learned (predicts the next 45 days; trained on " in human

    weighted = json.loads(koc("analyze", "--score", "weighted", "--json").stdout)
    assert weighted["score"] == {"kind": "weighted", "requested": "weighted", "notes": []}
    users = latest_users(tmp_path)
    total = sum(column(users, s) for s in DEFAULT_WEIGHTS)
    assert np.allclose(total, users["koc_score"].to_numpy())
    assert not column(users, "baseline").any() and not column(users, "tier3").any()
    assert "KOC score: weighted\n" in koc("analyze", "--score", "weighted").stdout


def test_score_options_are_checked_and_default_to_the_settings(campaign, koc, monkeypatch):
    bad = koc("analyze", "--score", "nonsense")
    assert bad.exit_code == 1
    assert "--score 'nonsense' is not one of learned, weighted" in bad.stderr
    far = koc("analyze", "--horizon", 0)
    assert far.exit_code == 1 and "--horizon" in far.stderr and "between 1 and 3650" in far.stderr
    monkeypatch.setenv("KOC_SCORE", "weighted")
    assert json.loads(koc("analyze", "--json").stdout)["score"]["kind"] == "weighted"
    monkeypatch.setenv("KOC_SCORE", "learned")
    monkeypatch.setenv("KOC_SCORE_HORIZON_DAYS", "20")
    assert json.loads(koc("analyze", "--json").stdout)["score"]["horizon_days"] == 20
    monkeypatch.setenv("KOC_SCORE", "fancy")
    unset = koc("analyze")
    assert unset.exit_code == 1 and "KOC_SCORE" in unset.stderr and "fancy" in unset.stderr


def test_under_two_horizons_of_history_the_weighted_score_is_used_with_a_note(tmp_path, koc):
    rows = [["", "join", "a", f"b{i}", f"2024-05-{1 + i:02d} 12:00:00", "", ""] for i in range(20)]
    koc("ingest", write_csv(tmp_path / "short.csv", rows))
    info = json.loads(koc("analyze", "--json").stdout)["score"]
    assert (info["kind"], info["requested"]) == ("weighted", "learned")
    assert "under two horizons of 30 days" in info["notes"][0]
    human = koc("analyze").stdout
    assert "KOC score: weighted — only 19 days of referrals, under two horizons" in human
    users = latest_users(tmp_path)
    assert np.allclose(sum(column(users, s) for s in DEFAULT_WEIGHTS), users["koc_score"])


def test_kocs_by_a_learned_score_come_in_two_parts(campaign, koc):
    assert koc("analyze").exit_code == 0
    picked = json.loads(koc("kocs", "--strategy", "score", "--k", 10, "--json").stdout)
    kinds = [r["picked_as"] for r in picked["rows"]]
    assert kinds == ["tree"] * 7 + ["sharer"] * 3
    assert all(r["reason"].startswith("sharer: ") for r in picked["rows"][7:])
    half = json.loads(
        koc("kocs", "--strategy", "score", "--k", 10, "--sharers", 0.5, "--json").stdout
    )
    assert [r["picked_as"] for r in half["rows"]] == ["tree"] * 5 + ["sharer"] * 5
    assert half["params"]["sharers"] == 0.5
    table = koc("kocs", "--strategy", "score", "--k", 10).stdout
    assert table.count("sharer:") == 3  # the reasons, in a table that wraps them
    bad = koc("kocs", "--strategy", "score", "--sharers", 1.5)
    assert bad.exit_code != 0 and "--sharers" in bad.stderr
