from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_csv

T0 = "2024-05-01 12:00:00"


def test_ingest_json_report_and_exit_zero_with_rejections(tmp_path, koc):
    path = write_csv(
        tmp_path / "e.csv", [["", "join", "a", "b", T0, "", ""], ["", "join", "a", "a", T0, "", ""]]
    )
    result = koc("ingest", path, "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("read", "accepted", "duplicates", "rejected")} == {
        "read": 2,
        "accepted": 1,
        "duplicates": 0,
        "rejected": 1,
    }
    assert Path(report["quarantine"]).parent == tmp_path / "quarantine"
    again = json.loads(koc("ingest", path, "--json", "--quarantine", tmp_path / "q.csv").stdout)
    assert (again["accepted"], again["duplicates"], again["quarantine"]) == (
        0,
        1,
        str(tmp_path / "q.csv"),
    )


def test_ingest_with_chinese_mapping_from_the_command_line(tmp_path, koc):
    header = ["邀请人ID", "客户ID", "添加时间", "事件"]
    path = write_csv(
        tmp_path / "scrm.csv",
        [["1234567890123456789", "007", "2024/5/1 9:05", "添加"]],
        header,
        encoding="gb18030",
    )
    result = koc(
        "ingest",
        path,
        "--json",
        "--map",
        "inviter_id=邀请人ID",
        "--map",
        "invitee_id=客户ID",
        "--map",
        "occurred_at=添加时间",
        "--map",
        "type=事件",
        "--map-type",
        "添加=join",
        "--campaign",
        "春季",
        "--tz",
        "UTC",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted"] == 1
    stats = json.loads(koc("stats", "--json").stdout)
    assert stats["referred_edges"] == 1 and stats["campaign_names"] == ["春季"]
    assert stats["first_event_at"] == "2024-05-01T09:05:00+00:00"


def test_unreadable_file_is_a_one_line_error_and_nonzero_exit(tmp_path, koc):
    path = write_csv(tmp_path / "x.csv", [["1"]], ["whatever"])
    result = koc("ingest", path)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "x.csv" in lines[0]


def test_bad_options_are_clear_errors(tmp_path, koc):
    path = write_csv(tmp_path / "e.csv", [["", "join", "a", "b", T0, "", ""]])
    assert "unknown time zone" in koc("ingest", path, "--tz", "Nowhere/City").stderr
    assert "not of the form KEY=VALUE" in koc("ingest", path, "--map", "invitee_id").stderr


def test_stats_on_missing_store(tmp_path, koc):
    result = koc("stats", "--store", tmp_path / "none.duckdb")
    assert result.exit_code == 1 and "no store at" in result.stderr


def test_stats_human_output(tmp_path, koc):
    koc("ingest", write_csv(tmp_path / "e.csv", [["", "join", "a", "b", T0, "spring", ""]]))
    result = koc("stats")
    assert result.exit_code == 0
    for label in ("users", "REFERRED edges", "INVITED ties", "campaigns", "first event"):
        assert label in result.stdout


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_generate_then_ingest_loads_everything(tmp_path, koc, fmt):
    out = tmp_path / f"g.{fmt}"
    gen = json.loads(koc("generate", "--users", 400, "--seed", 2, "--out", out, "--json").stdout)
    assert gen["format"] == fmt and Path(gen["truth"]).exists()
    report = json.loads(koc("ingest", out, "--json").stdout)
    assert report["read"] == gen["events"] == report["accepted"]


def test_installed_entry_point_runs(tmp_path):
    env = {**os.environ, "KOC_STORE_URL": str(tmp_path / "s.duckdb")}
    koc = Path(sys.executable).with_name("koc")
    path = write_csv(tmp_path / "e.csv", [["", "join", "a", "b", T0, "", ""]])
    done = subprocess.run([koc, "ingest", path, "--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] == 1
    # output is not a terminal: no progress bar, nothing on stderr
    assert done.stderr == ""


def test_a_failing_file_after_good_ones_says_what_was_applied(tmp_path, koc):
    good = write_csv(tmp_path / "good.csv", [["", "join", "a", "b", T0, "", ""]])
    bad = write_csv(tmp_path / "bad.csv", [["1"]], ["whatever"])
    result = koc("ingest", good, bad)
    assert result.exit_code == 1
    assert "bad.csv" in result.stderr and "already applied: " in result.stderr
    assert "good.csv" in result.stderr
    assert json.loads(koc("stats", "--json").stdout)["events"] == 1


def test_analyze_prints_a_summary_and_saves_the_snapshot(campaign, koc):
    result = koc("analyze", "--json", "--seed", 2)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["users"] > 800 and summary["communities"] > 0
    assert 0 < summary["modularity"] <= 1
    assert set(summary["stage_seconds"]) >= {"read", "referral", "pagerank", "communities"}
    assert len(summary["top_kocs"]) == 10 and summary["top_kocs"][0]["top_reason"]
    top = json.loads(koc("top", "--by", "koc_score", "--limit", 3, "--json").stdout)
    assert top["source"].startswith(f"snapshot {summary['id'][:8]}")
    assert [r["id"] for r in top["rows"]] == [k["id"] for k in summary["top_kocs"][:3]]
    human = koc("analyze")
    assert human.exit_code == 0 and "modularity" in human.stdout and "top reason" in human.stdout


@pytest.mark.parametrize("by", ["invites", "effective_invites", "conversions"])
def test_top_by_live_counts(campaign, koc, by):
    result = koc("top", "--by", by, "--limit", 5, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    values = [r[by] for r in rows]
    assert len(rows) == 5 and values == sorted(values, reverse=True)
    assert all(r["invites"] >= r["effective_invites"] for r in rows)


def test_top_by_invites_marks_the_referrers_fraud_screening_holds_back(campaign, koc):
    before = json.loads(koc("top", "--limit", 1000, "--json").stdout)["rows"]
    assert {r["flagged"] for r in before} == {None}
    assert "not screened for fraud yet" in koc("top").stdout
    koc("analyze", "--json")
    queue = json.loads(koc("flags", "--limit", 10_000, "--json").stdout)["users"]
    held = {f["user_id"] for f in queue}
    rows = json.loads(koc("top", "--limit", 1000, "--json").stdout)["rows"]
    marked = {r["id"]: r["flag_rules"] for r in rows if r["flagged"]}
    assert marked and set(marked) == held & {r["id"] for r in rows}
    farmer, rules = next(iter(marked.items()))
    assert rules and "⚑" in koc("top", "--limit", 1000).stdout
    koc("review", farmer, "--approve", "--note", "checked")
    again = json.loads(koc("top", "--limit", 1000, "--json").stdout)["rows"]
    assert {r["id"] for r in again if r["flagged"]} == set(marked) - {farmer}


def test_top_from_snapshot_needs_an_analysis_with_the_same_filters(campaign, koc):
    result = koc("top", "--by", "reach")
    assert result.exit_code == 1 and "run an analysis first (koc analyze)" in result.stderr
    koc("analyze", "--json")
    reach = json.loads(koc("top", "--by", "reach", "--json").stdout)["rows"]
    assert [r["reach"] for r in reach] == sorted((r["reach"] for r in reach), reverse=True)
    other = koc("top", "--by", "gmv", "--since", "2026-05-01")
    assert other.exit_code == 1 and "analyse the same since/until/campaigns" in other.stderr
    koc("ingest", write_csv(campaign.parent / "late.csv", [["", "join", "x", "y", T0, "", ""]]))
    stale = json.loads(koc("top", "--by", "reach", "--json").stdout)
    assert "1 newer ingest batch(es) not analysed yet" in stale["source"]


def test_analyze_refuses_an_empty_window(campaign, koc):
    result = koc("analyze", "--since", "2099-01-01")
    assert result.exit_code == 1 and "nobody referred or invited anyone" in result.stderr
    assert "run an analysis first" in koc("top", "--by", "reach").stderr  # nothing was saved


def test_analyze_and_top_reject_bad_options(campaign, koc):
    assert "not one of" in koc("top", "--by", "fame").stderr
    assert "unknown signals: fame" in koc("analyze", "--weight", "fame=1").stderr
    assert "not a date" in koc("analyze", "--since", "yesterday").stderr
    assert "is not SIGNAL=NUMBER" in koc("analyze", "--weight", "reach=lots").stderr


def test_top_from_a_filtered_snapshot_says_so_and_lists_referrers_only(tmp_path, koc):
    koc(
        "ingest",
        write_csv(
            tmp_path / "e.csv",
            [
                ["", "join", "a", "b", T0, "spring", ""],
                ["", "join", "b", "c", T0, "spring", ""],
                ["", "join", "x", "y", T0, "618", ""],
            ],
        ),
    )
    koc("analyze", "--campaign", "spring", "--json")
    top = json.loads(koc("top", "--by", "reach", "--json").stdout)
    assert "campaigns spring" in top["source"]
    assert [(r["id"], r["reach"]) for r in top["rows"]] == [("a", 2), ("b", 1)]


@pytest.mark.parametrize("strategy", ["coverage", "influence", "score"])
def test_kocs_after_an_analysis(campaign, koc, strategy):
    assert "run one first (koc analyze" in koc("kocs").stderr
    koc("analyze", "--json")
    result = koc("kocs", "--k", 5, "--strategy", strategy, "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert [r["rank"] for r in listing["rows"]] == [1, 2, 3, 4, 5]
    assert all(r["reason"] for r in listing["rows"])
    assert (listing["spread"] is not None) == (strategy == "influence")
    human = koc("kocs", "--k", 3, "--strategy", strategy, "--quota", "community")
    assert human.exit_code == 0 and "3 KOCs by" in human.stdout


def test_kocs_excludes_users_from_options_and_files(campaign, koc, tmp_path):
    koc("analyze", "--json")
    first = json.loads(koc("kocs", "--k", 3, "--json").stdout)["rows"]
    ids = [r["user_id"] for r in first]
    (tmp_path / "skip.txt").write_text(f"{ids[1]}\n\n", encoding="utf-8")
    rows = json.loads(
        koc(
            "kocs", "--k", 3, "--exclude", ids[0], "--exclude-file", tmp_path / "skip.txt", "--json"
        ).stdout
    )["rows"]
    assert not {ids[0], ids[1]} & {r["user_id"] for r in rows}
    assert "unknown strategy" in koc("kocs", "--strategy", "vibes").stderr
    assert "unknown quota" in koc("kocs", "--quota", "city").stderr
    assert "No such file" in koc("kocs", "--exclude-file", tmp_path / "none.txt").stderr


def test_flags_and_review_round_trip(tmp_path, koc, monkeypatch):
    rows = [
        ["", "join", "farmer", f"fake{i}", f"2024-05-01 12:{i:02d}:00", "c", ""] for i in range(12)
    ]
    koc("ingest", write_csv(tmp_path / "farm.csv", rows))
    koc("analyze", "--json")
    queue = json.loads(koc("flags", "--json").stdout)
    assert queue["total"] == 13 and queue["users"][0]["user_id"] == "farmer"
    assert queue["users"][0]["flags"][0]["rule"] == "burst"
    assert "give exactly one" in koc("review", "farmer", "--note", "x").stderr
    assert "--note is required" in koc("review", "farmer", "--decline").stderr
    assert "not flagged" in koc("review", "nobody", "--approve", "--note", "x").stderr
    monkeypatch.setenv("KOC_REVIEWER", "ops-li")
    done = json.loads(koc("review", "fake3", "--approve", "--note", "real", "--json").stdout)
    assert done["status"] == "approved" and done["reviewer"] == "ops-li"
    human = koc("review", "farmer", "--decline", "--note", "device farm")
    assert human.exit_code == 0 and "declined by ops-li" in human.stdout
    approved = json.loads(koc("flags", "--status", "approved", "--json").stdout)
    assert [u["user_id"] for u in approved["users"]] == ["fake3"]
    assert json.loads(koc("flags", "--status", "pending", "--json").stdout)["total"] == 11
    assert "flagged users" in koc("flags", "--limit", 2).stdout


def test_fraud_thresholds_come_from_settings(tmp_path, koc, monkeypatch):
    rows = [
        ["", "join", "farmer", f"fake{i}", f"2024-05-01 12:{i:02d}:00", "c", ""] for i in range(12)
    ]
    koc("ingest", write_csv(tmp_path / "farm.csv", rows))
    monkeypatch.setenv("KOC_FRAUD__BURST_JOINS", "50")
    assert json.loads(koc("analyze", "--json").stdout)["flagged_users"] == 0
    monkeypatch.setenv("KOC_FRAUD__BURST_JOINS", "1")
    bad = koc("analyze")
    assert bad.exit_code == 1 and "KOC_FRAUD" in bad.stderr and "burst_joins" in bad.stderr


def test_backtest_prints_a_table_and_json(campaign, koc):
    result = koc("backtest", "--cutoff", "2026-06-01", "--k", 5, "--horizon", "4w", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["horizon_days"] == 28 and data["k"] == 5
    # 92 days before the cutoff: two 4-week horizons, so the learned score is learned
    # and the score strategy is measured for both scores.
    assert {r["name"] for r in data["rows"]} == {
        "coverage",
        "influence",
        "learned",
        "weighted",
        "top_invites",
        "top_pagerank",
        "random",
    }
    weighted = koc("backtest", "--cutoff", "2026-06-01", "--k", 5, "--score", "weighted", "--json")
    assert {r["name"] for r in json.loads(weighted.stdout)["rows"]} >= {"weighted"}
    assert "learned" not in {r["name"] for r in json.loads(weighted.stdout)["rows"]}
    short = koc("backtest", "--cutoff", "2026-06-01", "--horizon", "12h")
    assert short.exit_code == 1 and "--score weighted" in short.stderr
    assert "--score 'vibes' is not one of learned, weighted" in (
        koc("backtest", "--cutoff", "2026-06-01", "--score", "vibes").stderr
    )
    human = koc("backtest", "--cutoff", "2026-06-01", "--k", 5)
    assert human.exit_code == 0 and "precision@5" in human.stdout
    assert (
        "expected a duration"
        in koc("backtest", "--cutoff", "2026-06-01", "--horizon", "soon").stderr
    )
