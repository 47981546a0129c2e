from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import write_csv

T0 = "2024-05-01 12:00:00"


@pytest.fixture
def koc(tmp_path, monkeypatch):
    """Run `koc` in-process with the store and quarantine under tmp_path."""
    monkeypatch.setenv("KOC_STORE_URL", str(tmp_path / "store.duckdb"))
    monkeypatch.setenv("KOC_QUARANTINE_DIR", str(tmp_path / "quarantine"))
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


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
