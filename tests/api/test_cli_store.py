"""`koc repair` and `koc migrate` on stores an older Searchlight left behind."""

from __future__ import annotations

import csv
import json

import duckdb

from graph.derive import derive
from tests.conftest import write_csv
from tests.graph.test_embedded import _as_version_1

T0 = "2024-05-01 12:00:00"


def _poison(path) -> None:
    """Events with times in year 10000 and year 1, as ingest took them
    before it checked times, with the graph derived from them."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            """INSERT INTO events (event_id, type, inviter_id, invitee_id, occurred_at, line, batch_id)
               VALUES ('far', 'join', 'bob', 'zed', '9999-12-31 23:00:00-05:00', 4, 1),
                      ('old', 'convert', NULL, 'carol', '0001-01-01 00:00:00+00', 5, 1)"""
        )
        for table in ("users", "referred", "invited", "churns"):
            con.execute(f"DELETE FROM {table}")
        derive(con, scoped=False)


def test_repair_quarantines_impossible_times_and_the_store_reads_again(tmp_path, koc):  # noqa: F811
    path = write_csv(
        tmp_path / "e.csv",
        [["", "join", "alice", "bob", T0, "", ""], ["", "join", "alice", "carol", T0, "", ""]],
    )
    assert koc("ingest", path).exit_code == 0
    store = tmp_path / "store.duckdb"
    _poison(store)
    with duckdb.connect(str(store)) as con:  # the poison is in: zed exists, carol converted
        assert con.sql("SELECT count(*) FROM users WHERE id = 'zed'").fetchall() == [(1,)]
        converted = "SELECT converted_at IS NOT NULL FROM users WHERE id = 'carol'"
        assert con.sql(converted).fetchall() == [(True,)]

    result = koc("repair", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["removed"] == 2
    with open(report["quarantine"], encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["line"], r["field"]) for r in rows] == [("4", "occurred_at"), ("5", "occurred_at")]
    assert "is outside 2000-01-01 .. 2100-01-01" in rows[0]["reason"]
    assert "(batch 1, line 4)" in rows[0]["reason"]
    assert json.loads(rows[0]["row"])["invitee_id"] == "zed"  # nothing lost

    stats = koc("stats", "--json")
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["events"] == 2
    users = koc("top", "--json")
    assert users.exit_code == 0, users.output
    with duckdb.connect(str(store)) as con:  # zed only existed through the poison
        ids = con.sql("SELECT id, converted_at FROM users ORDER BY id").fetchall()
    assert ids == [("alice", None), ("bob", None), ("carol", None)]  # carol's year-1 order gone
    again = json.loads(koc("repair", "--json").output)
    assert (again["removed"], again["quarantine"]) == (0, None)


def test_migrate_upgrades_a_version_1_store(tmp_path, koc):  # noqa: F811
    path = write_csv(
        tmp_path / "e.csv",
        [["", "join", "alice", "bob", T0, "", ""], ["x1", "join", "alice", "carol", T0, "", ""]],
    )
    assert koc("ingest", path).exit_code == 0
    store = tmp_path / "store.duckdb"
    assert _as_version_1(store) == 1
    stats = koc("stats")
    assert stats.exit_code == 1 and "koc migrate" in stats.output
    result = koc("migrate", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["event_ids_rewritten"] == 1
    assert json.loads(koc("migrate", "--json").output)["event_ids_rewritten"] == 0
    again = json.loads(koc("ingest", path, "--json").output)
    assert (again["accepted"], again["duplicates"]) == (0, 2)
