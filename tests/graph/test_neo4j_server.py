"""The Neo4j store on a real server, where only a real server can tell:
every statement checked by the server's own planner, writers killed with
SIGKILL at several points, and two writers at once.

Each kill happens in a child process, just before the named statement is
sent for the n-th time; the parent then checks the store, runs the same
work again, and compares the result with the embedded store's.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from graph import cypher
from graph.analysis.snapshot import analyze
from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from graph.store import Store, StoreLockedError, Window
from loaders.generator import generate_campaign, write_campaign
from loaders.quarantine import Quarantine
from tests.conftest import (
    NEO4J_PASSWORD,
    NEO4J_URL,
    fresh_neo4j_store,
    needs_neo4j,
    write_csv,
)

pytestmark = needs_neo4j
ROOT = Path(__file__).parents[2]
BATCH = 400  # small chunks, so a file is many transactions to die between
# The server's word that a label, type or property is not in the database
# yet: true of an empty test database, not a fault of the statement.
UNKNOWN_NAMES = {"01N50", "01N51", "01N52"}


def fresh_store_without_cleaning():
    from graph.neo4j_store import Neo4jStore

    return Neo4jStore(NEO4J_URL, password=NEO4J_PASSWORD)


def ingest_work(path: Path) -> str:
    """Child code that ingests a file into `store` (see die_at)."""
    return f"""
        from loaders.pipeline import open_events
        store.ingest(open_events({str(path)!r}).batches(None), source={path.name!r})
        """


def earlier(text: str) -> str:
    """A generated (Asia/Shanghai) time one hour earlier, in the same form."""
    from datetime import datetime, timedelta

    moved = datetime.fromisoformat(text) - timedelta(hours=1)
    return moved.strftime("%Y-%m-%d %H:%M:%S")


def campaign(tmp_path: Path, name: str, users: int, seed: int) -> Path:
    path = tmp_path / f"{name}.csv"
    write_campaign(*generate_campaign(users=users, seed=seed), path, "csv")
    return path


def load(store: Store, path: Path, tmp_path: Path):
    return ingest_file(store, path, quarantine=Quarantine(tmp_path / f"q-{path.stem}.csv"))


def state(store: Store) -> dict:
    """What a reader sees of the store, comparable across backends."""
    stats = store.stats().to_json()
    stats.pop("batches")
    tables = store.read_graph(Window())
    return {
        "stats": stats,
        "users": sorted(tuple(r.values()) for r in tables.users.to_pylist()),
        "referred": sorted(tuple(r.values()) for r in tables.referred.to_pylist()),
        "invited": sorted(tuple(r.values()) for r in tables.invited.to_pylist()),
        "devices": sorted(tuple(r.values()) for r in tables.devices.to_pylist()),
        "watermark_positive": store.watermark() > 0,
    }


def embedded_state(tmp_path: Path, *paths: Path) -> dict:
    with EmbeddedStore(tmp_path / "reference.duckdb") as reference:
        for path in paths:
            load(reference, path, tmp_path)
        return state(reference)


def die_at(statement: str, nth: int, work: str) -> subprocess.CompletedProcess:
    """Run `work` (Python, with `store` open on the test server) in a child
    that kills itself with SIGKILL just before sending `statement` the
    nth time."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from graph import cypher, neo4j_runner
        from graph.neo4j_store import Neo4jStore
        target, sent = getattr(cypher, {statement!r}), [0]
        write = neo4j_runner.DriverRunner.write
        def dying_write(self, query, params):
            if query == target:
                sent[0] += 1
                if sent[0] == {nth}:
                    os.kill(os.getpid(), signal.SIGKILL)
            return write(self, query, params)
        neo4j_runner.DriverRunner.write = dying_write
        store = Neo4jStore({NEO4J_URL!r}, password={NEO4J_PASSWORD!r}, batch_size={BATCH})
        """
    ) + textwrap.dedent(work)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == -9, f"the child was to die at {statement} #{nth}: {done.stderr}"
    return done


def test_every_statement_passes_the_servers_explain(tmp_path):
    with fresh_neo4j_store() as store:
        load(store, campaign(tmp_path, "e", 200, 3), tmp_path)
        store.save_snapshot(analyze(store).to_saved())
        explained = 0
        for statement in sorted(cypher.statements() - set(cypher.SCHEMA)):
            params = {name: None for name in re.findall(r"\$(\w+)", statement)}
            said = [n for n in store._runner.explain(statement, params)]
            assert not [n for n in said if n["status"] not in UNKNOWN_NAMES], statement
            explained += 1
        assert explained >= 50


@pytest.mark.parametrize(
    ("statement", "nth"),
    [("CREATE_EVENTS", 3), ("CREATE_USERS", 2), ("CREATE_REFERRED", 1), ("APPLY_BATCH", 1)],
)
def test_a_first_load_killed_midway_is_taken_out_and_then_loads_whole(tmp_path, statement, nth):
    path = campaign(tmp_path, "first", 1200, 21)
    fresh_neo4j_store().close()
    die_at(statement, nth, ingest_work(path))
    with fresh_store_without_cleaning() as store:
        assert store.watermark() == 0
        assert [r["batch_id"] for r in store._runner.read(cypher.UNFINISHED_BATCHES, {})] == [1]
        again = load(store, path, tmp_path)
        assert again.duplicates == 0 and again.accepted == again.read - again.rejected
        assert not store._runner.read(cypher.UNFINISHED_BATCHES, {})
        assert state(store) == embedded_state(tmp_path, path)


@pytest.mark.parametrize(("statement", "nth"), [("MERGE_EVENTS", 2), ("DELETE_TIES_INTO", 1)])
def test_a_later_file_killed_midway_accepts_exactly_what_was_missing(tmp_path, statement, nth):
    first, later = campaign(tmp_path, "a", 800, 5), campaign(tmp_path, "b", 800, 6)
    with fresh_neo4j_store() as store:
        load(store, first, tmp_path)
        before = state(store)
    die_at(statement, nth, ingest_work(later))
    with fresh_store_without_cleaning() as store:
        assert store.watermark() == 1
        report = load(store, later, tmp_path)
        assert state(store) == embedded_state(tmp_path, first, later) != before
        with EmbeddedStore(tmp_path / "check.duckdb") as reference:
            load(reference, first, tmp_path)
            expected = load(reference, later, tmp_path)
        assert (report.accepted, report.duplicates) == (expected.accepted, expected.duplicates)


@pytest.mark.parametrize(
    ("statement", "nth"),
    [("WRITE_SNAPSHOT_PART", 2), ("FINISH_SNAPSHOT", 1), ("WRITE_BACK_USERS", 1)],
)
def test_a_snapshot_save_killed_midway_leaves_a_whole_latest(tmp_path, statement, nth):
    with fresh_neo4j_store(batch_size=BATCH) as store:
        load(store, campaign(tmp_path, "s", 1200, 8), tmp_path)
        first = analyze(store).to_saved()
        store.save_snapshot(first)
    die_at(
        statement,
        nth,
        """
        from graph.analysis.snapshot import analyze
        store.save_snapshot(analyze(store).to_saved())
        """,
    )
    with fresh_store_without_cleaning() as store:
        latest = store.latest_snapshot()
        switched = statement == "WRITE_BACK_USERS"
        assert (latest.id != first.id) == switched
        # Read back in the embedded store's order: users by id, communities
        # by number, flags by user and rule.
        for name, keys in (
            ("users", ["id"]),
            ("communities", ["community"]),
            ("flags", ["user_id", "rule"]),
        ):
            saved = getattr(first, name).sort_by([(k, "ascending") for k in keys])
            assert getattr(latest, name).equals(saved, check_metadata=True), name
        unfinished = store._runner.read(cypher.UNFINISHED_SNAPSHOTS, {})
        assert len(unfinished) == (0 if switched else 1)
        third = analyze(store).to_saved()
        store.save_snapshot(third)
        assert not store._runner.read(cypher.UNFINISHED_SNAPSHOTS, {})
        assert store.latest_snapshot().id == third.id


def test_a_second_writer_waits_its_turn_or_is_told_the_store_is_busy(tmp_path):
    first = campaign(tmp_path, "w0", 900, 30)
    # A rival file: earlier joins into the first file's invitees by other
    # inviters, so both writers derive the same users' REFERRED edges.
    events, _ = generate_campaign(users=900, seed=30)
    joins = [r for r in events.to_pylist() if r["type"] == "join" and r["inviter_id"]]
    rows = [
        ["", "join", f"rival-{i % 40}", r["invitee_id"], earlier(r["occurred_at"]), "rival", ""]
        for i, r in enumerate(joins)
    ]
    rival = write_csv(tmp_path / "w1.csv", rows)
    shared = [first, rival]
    fresh_neo4j_store().close()
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(f"""
                    from graph.neo4j_store import Neo4jStore
                    from graph.ingest import ingest_file
                    from graph.store import StoreLockedError
                    from loaders.quarantine import Quarantine
                    store = Neo4jStore({NEO4J_URL!r}, password={NEO4J_PASSWORD!r})
                    try:
                        ingest_file(store, {str(path)!r},
                                    quarantine=Quarantine({str(tmp_path / f"q{i}.csv")!r}))
                        print("ingested")
                    except StoreLockedError as exc:
                        print("busy:", exc)
                """),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, path in enumerate(shared)
    ]
    said = [child.communicate(timeout=300)[0] for child in children]
    assert all(s.startswith(("ingested", "busy: ")) for s in said), said
    with fresh_store_without_cleaning() as store:
        for path, words in zip(shared, said, strict=True):
            if words.startswith("busy"):
                assert "being written by another process" in words
                load(store, path, tmp_path)
        referred = store.read_graph(Window()).referred
        assert referred.num_rows == len(set(referred["invitee_id"].to_pylist()))
        assert state(store) == embedded_state(tmp_path, *shared)


def test_a_busy_store_is_a_clear_error_for_the_second_writer(tmp_path, monkeypatch):
    from graph import neo4j_ingest

    monkeypatch.setattr(neo4j_ingest, "LEASE_WAIT_SECONDS", 1.0)
    path = campaign(tmp_path, "busy", 50, 2)
    with fresh_neo4j_store() as first, fresh_store_without_cleaning() as second:
        with (
            neo4j_ingest.writer_lease(first._runner),
            pytest.raises(StoreLockedError, match="being written by another process"),
        ):
            load(second, path, tmp_path)
        assert second.watermark() == 0
        assert load(second, path, tmp_path).accepted > 0


def test_reads_after_writes_carry_the_writes_bookmarks(tmp_path):
    """Every session of a store shares one bookmark manager, so a read that
    follows a write waits for it on any cluster member (causal chaining)."""
    with fresh_neo4j_store() as store:
        before = set(store._runner._bookmarks.get_bookmarks())
        load(store, campaign(tmp_path, "bm", 60, 4), tmp_path)
        after_ingest = set(store._runner._bookmarks.get_bookmarks())
        assert after_ingest and after_ingest != before
        store.record_review(store.read_graph(Window()).users["id"][0].as_py(), "approved", "", "t")
        assert set(store._runner._bookmarks.get_bookmarks()) != after_ingest


def test_a_version_1_store_is_migrated_at_the_next_ingest(tmp_path):
    """A store written before hashed ids covered every field: the next
    ingest rewrites them, so the same file again adds nothing, and the
    users gain their churn periods."""
    import duckdb

    from graph.neo4j_ingest import EVENT_ROWS
    from graph.neo4j_runner import records_table
    from loaders.canonical import hashed_event_id_sql, legacy_hashed_event_id_sql

    path = write_csv(
        tmp_path / "e.csv",
        [
            ["", "join", "alice", "bob", "2024-05-01 12:00:00", "", ""],
            ["", "convert", "", "bob", "2024-05-01 13:00:00", "", "100"],
            ["", "churn", "", "bob", "2024-05-02 00:00:00", "", ""],
            ["", "join", "carol", "bob", "2024-05-03 00:00:00", "", ""],
            ["x1", "join", "alice", "carol", "2024-05-01 12:00:00", "", ""],
        ],
    )
    quarantine = Quarantine(tmp_path / "q.csv")
    with fresh_neo4j_store() as store:
        ingest_file(store, path, quarantine=quarantine, timezone="UTC")
        run = store._runner
        new_ids = sorted(r["event_id"] for r in run.stream(cypher.ALL_EVENTS, {}))
        # Back to version 1: five-field hashes, no churn periods, no marker.
        events = records_table(run.stream(cypher.ALL_EVENTS, {}), EVENT_ROWS)  # noqa: F841
        back = duckdb.sql(
            f"""SELECT {hashed_event_id_sql()} AS old, {legacy_hashed_event_id_sql()} AS new
                FROM (SELECT * REPLACE (amount::DECIMAL(18, 4) AS amount) FROM events)
                WHERE event_id = {hashed_event_id_sql()}"""
        ).to_arrow_table()
        assert back.num_rows == 4
        run.write(cypher.RENAME_EVENTS, {"rows": back.to_pylist()})
        run.write("MATCH (u:User) REMOVE u.away_from, u.away_until", {})
        run.write("MATCH (m:Meta) DELETE m", {})
        old_ids = sorted(r["event_id"] for r in run.stream(cypher.ALL_EVENTS, {}))
        assert set(old_ids) & set(new_ids) == {"x1"}
        mid_window = Window(until=utc_time("2024-05-02 12:00"))

        again = ingest_file(store, path, quarantine=quarantine, timezone="UTC")
        assert (again.accepted, again.duplicates, again.conflicts) == (0, 5, 0)
        assert sorted(r["event_id"] for r in run.stream(cypher.ALL_EVENTS, {})) == new_ids
        referred_ids = run.read("MATCH ()-[r:REFERRED]->() RETURN r.event_id AS id", {})
        assert {r["id"] for r in referred_ids} <= set(new_ids)
        churned = store.read_graph(mid_window).users.to_pydict()
        assert dict(zip(churned["id"], churned["churned"], strict=True))["bob"] is True
        assert store.user("bob").churned_at is None  # back since May 3rd


def utc_time(text: str):
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC)
