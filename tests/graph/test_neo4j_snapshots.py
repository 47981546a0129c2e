"""Analysis snapshots in the Neo4j store against a recording runner: saved
beside the latest under the writer lease, switched in one step, written back
onto the users, read back equal to what was saved, and pruned under the
lease. (Killed saves on a real server: tests/graph/test_neo4j_server.py;
what pruning leaves: tests/graph/contract/test_snapshot_pruning.py.)"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from neo4j.time import DateTime

from graph import cypher, neo4j_snapshots
from graph.store import SavedSnapshot, StoreError
from tests.graph.recording_runner import INJECTION, RecordingRunner, T, assert_sent_well, connect


def a_snapshot() -> SavedSnapshot:
    users = pa.table(
        {
            "id": ["a", "b", "c"],
            "community": pa.array([0, 0, 1], pa.int64()),
            "koc_score": pa.array([90.5, 10.0, 0.0], pa.float32()),
            "flagged": [False, True, False],
            "last_referral_at": pa.array([T, None, None], pa.timestamp("us", tz="UTC")),
            "flag_rules": pa.array([None, ["burst"], []], pa.list_(pa.string())),
        }
    )
    communities = pa.table(
        {"community": pa.array([0, 1], pa.int32()), "top_users": pa.array([["a", "b"], ["c"]])}
    )
    flags = pa.table(
        {"user_id": ["b"], "rule": ["burst"], "reason": [INJECTION], "evidence": ['{"joins": 12}']}
    )
    return SavedSnapshot("snap-9", {"seed": 0}, T, 7, {"users": 3}, users, communities, flags)


def test_a_snapshot_is_saved_beside_the_latest_then_switched_and_written_back(monkeypatch):
    monkeypatch.setattr(neo4j_snapshots, "_PART_ROWS", 2)  # so users take two parts
    left = {"snap-dead": 3}  # rows of a dead save

    def delete_rows(params: dict) -> list[dict]:
        gone = min(params["limit"], left[params["snapshot_id"]])
        left[params["snapshot_id"]] -= gone
        return [{"deleted": gone}]

    runner = RecordingRunner(
        {
            cypher.UNFINISHED_SNAPSHOTS: [{"snapshot_id": "snap-dead"}],
            cypher.DELETE_SNAPSHOT_ROWS: delete_rows,
        }
    )
    store = connect(runner, batch_size=2)
    saved = a_snapshot()
    store.save_snapshot(saved)
    assert runner.calls[0][:2] == ("hold", cypher.WRITER_LEASE)
    assert all(c.held for c in runner.calls[1:])
    queries = runner.queries()
    start, finish = queries.index(cypher.START_SNAPSHOT), queries.index(cypher.FINISH_SNAPSHOT)
    assert runner.sent(cypher.DROP_SNAPSHOT) == [{"snapshot_id": "snap-dead"}]
    assert queries.index(cypher.DROP_SNAPSHOT) < start and left == {"snap-dead": 0}
    parts = [(p["table"], p["seq"]) for p in runner.sent(cypher.WRITE_SNAPSHOT_PART)]
    assert sorted(parts) == [("communities", 0), ("flags", 0), ("users", 0), ("users", 1)]
    assert all(
        start < i < finish
        for i, q in enumerate(queries)
        if q in (cypher.WRITE_SNAPSHOT_PART, cypher.WRITE_FLAGS)
    )
    assert runner.rows(cypher.WRITE_FLAGS) == [{"user_id": "b", "rule": "burst"}]
    assert runner.sent(cypher.FINISH_SNAPSHOT) == [{"snapshot_id": "snap-9"}]
    back = [i for i, q in enumerate(queries) if q == cypher.WRITE_BACK_USERS]
    assert len(back) == 2 and finish < back[0]
    # The write-back's two writers run in parallel: its rows come in either order.
    written = {row["id"]: row for row in runner.rows(cypher.WRITE_BACK_USERS)}
    assert written["b"] == {
        "id": "b",
        "values": {"community": 0, "koc_score": 10.0, "flagged": True, "flag_rules": ["burst"]},
    }
    assert cypher.SNAPSHOTS_TO_PRUNE not in queries  # pruning is the caller's next step
    assert_sent_well(runner)


def test_pruning_clears_users_then_rows_then_the_snapshot_under_the_lease():
    left = {"snap-1": {"users": 3, "rows": 5}, "snap-2": {"users": 0, "rows": 2}}

    def take(kind: str, answer: str):
        def run(params: dict) -> list[dict]:
            gone = min(params["limit"], left[params["snapshot_id"]][kind])
            left[params["snapshot_id"]][kind] -= gone
            return [{answer: gone}]

        return run

    runner = RecordingRunner(
        {
            cypher.SNAPSHOTS_TO_PRUNE: [{"snapshot_id": "snap-1"}, {"snapshot_id": "snap-2"}],
            cypher.CLEAR_WRITTEN_BACK: take("users", "cleared"),
            cypher.DELETE_SNAPSHOT_ROWS: take("rows", "deleted"),
        }
    )
    store = connect(runner, batch_size=2)
    assert store.prune_snapshots(4) == ["snap-1", "snap-2"]
    assert runner.calls[0][:2] == ("hold", cypher.WRITER_LEASE)
    assert all(c.held for c in runner.calls[1:])
    assert runner.sent(cypher.SNAPSHOTS_TO_PRUNE) == [{"keep": 4}]
    assert left == {"snap-1": {"users": 0, "rows": 0}, "snap-2": {"users": 0, "rows": 0}}
    cleared = runner.sent(cypher.CLEAR_WRITTEN_BACK)[0]["cleared"]
    assert cleared == {c: None for c in neo4j_snapshots.WRITTEN_BACK[1:]} | {"snapshot_id": None}
    # Per snapshot: its users, then its rows, and the :Snapshot node last.
    order = [q for q in runner.queries() if q != cypher.WRITER_LEASE]
    assert order == [
        cypher.SNAPSHOTS_TO_PRUNE,
        *[cypher.CLEAR_WRITTEN_BACK] * 3,  # snap-1: users 2 + 1 + 0
        *[cypher.DELETE_SNAPSHOT_ROWS] * 4,  # rows 2 + 2 + 1 + 0
        cypher.DROP_SNAPSHOT,
        cypher.CLEAR_WRITTEN_BACK,  # snap-2: no users, rows 2+0
        *[cypher.DELETE_SNAPSHOT_ROWS] * 2,
        cypher.DROP_SNAPSHOT,
    ]
    assert [p["snapshot_id"] for p in runner.sent(cypher.DROP_SNAPSHOT)] == ["snap-1", "snap-2"]
    assert_sent_well(runner)


def test_an_export_marks_a_saved_snapshot_and_an_unknown_one_is_refused():
    runner = RecordingRunner(
        {cypher.RECORD_EXPORT: lambda p: [{"found": int(p["snapshot_id"] == "snap-9")}]}
    )
    store = connect(runner)
    store.record_export("snap-9")
    with pytest.raises(StoreError, match="no snapshot 'gone'"):
        store.record_export("gone")
    assert [p["snapshot_id"] for p in runner.sent(cypher.RECORD_EXPORT)] == ["snap-9", "gone"]
    assert_sent_well(runner)


def test_a_saved_snapshot_reads_back_equal_to_what_was_saved(monkeypatch):
    monkeypatch.setattr(neo4j_snapshots, "_PART_ROWS", 2)
    runner = RecordingRunner()
    store = connect(runner)
    assert store.latest_snapshot() is None
    saved = a_snapshot()
    store.save_snapshot(saved)
    started = runner.sent(cypher.START_SNAPSHOT)[0]
    written = runner.sent(cypher.WRITE_SNAPSHOT_PART)
    runner.answers[cypher.LATEST_SNAPSHOT] = [
        {
            **started,
            "id": started["snapshot_id"],
            "computed_at": DateTime.from_native(started["computed_at"]),
        }
    ]
    runner.answers[cypher.READ_SNAPSHOT_PARTS] = lambda p: [
        {"data": w["data"]}
        for w in sorted(written, key=lambda w: w["seq"])
        if (w["snapshot_id"], w["table"]) == (p["snapshot_id"], p["table"])
    ]
    back = store.latest_snapshot()
    assert (back.id, back.params, back.summary, back.watermark) == (
        "snap-9",
        {"seed": 0},
        {"users": 3},
        7,
    )
    assert back.computed_at == T
    for name in ("users", "communities", "flags"):
        assert getattr(back, name).schema == getattr(saved, name).schema, name
        assert getattr(back, name).equals(getattr(saved, name)), name
    assert json.loads(started["params"]) == saved.params
    assert_sent_well(runner)
