from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from graph.embedded import EmbeddedStore
from graph.ingest import ingest_file
from graph.store import StoreError, StoreLockedError, Window
from graph.store_url import open_store
from loaders.canonical import hashed_event_id_sql, legacy_hashed_event_id_sql
from loaders.quarantine import Quarantine
from tests.conftest import table_rows, write_csv

T0 = "2024-05-01 12:00:00"


def referred(store) -> set[tuple]:
    return set(table_rows(store, "SELECT referrer_id, invitee_id, event_id FROM referred"))


def invited(store) -> set[tuple]:
    return set(table_rows(store, "SELECT inviter_id, invitee_id, count FROM invited"))


def snapshot(store) -> dict:
    """Everything in the store except the batch log, for 'nothing changed' checks."""
    return {
        t: sorted(map(repr, table_rows(store, f"SELECT * FROM {t}")))
        for t in ("events", "users", "referred", "invited")
    }


def test_first_join_wins_and_later_joins_are_invited_ties(tmp_path, store, ingest):
    path = write_csv(
        tmp_path / "e.csv",
        [
            ["e2", "join", "bob", "carol", "2024-05-02 12:00:00", "", ""],
            ["e1", "join", "alice", "carol", "2024-05-01 12:00:00", "", ""],
            ["e3", "join", "alice", "carol", "2024-05-03 12:00:00", "", ""],  # referrer again
            ["e4", "invite", "alice", "carol", "2024-04-30 12:00:00", "", ""],
            ["e5", "invite", "dave", "carol", "2024-04-30 12:00:00", "", ""],
            ["e6", "invite", "dave", "carol", "2024-05-04 12:00:00", "", ""],
        ],
    )
    ingest(path)
    assert referred(store) == {("alice", "carol", "e1")}
    # The referrer's own invite and repeat join are not an extra tie.
    assert invited(store) == {("bob", "carol", 1), ("dave", "carol", 2)}
    [(referred_by,)] = table_rows(store, "SELECT referred_by FROM users WHERE id = 'carol'")
    assert referred_by == "alice"


def test_simultaneous_joins_tie_break_on_event_id(tmp_path, store, ingest):
    ingest(
        write_csv(
            tmp_path / "e.csv",
            [
                ["z-evt", "join", "alice", "carol", T0, "", ""],
                ["a-evt", "join", "bob", "carol", T0, "", ""],
            ],
        )
    )
    assert referred(store) == {("bob", "carol", "a-evt")}
    assert invited(store) == {("alice", "carol", 1)}


def test_an_earlier_join_arriving_later_takes_over_the_attribution(tmp_path, store, ingest):
    ingest(
        write_csv(
            tmp_path / "a.csv", [["e2", "join", "bob", "carol", "2024-05-02 12:00:00", "", ""]]
        )
    )
    assert referred(store) == {("bob", "carol", "e2")}
    ingest(
        write_csv(
            tmp_path / "b.csv", [["e1", "join", "alice", "carol", "2024-05-01 12:00:00", "", ""]]
        )
    )
    assert referred(store) == {("alice", "carol", "e1")}
    assert invited(store) == {("bob", "carol", 1)}
    [(by,)] = table_rows(store, "SELECT referred_by FROM users WHERE id = 'carol'")
    assert by == "alice"


def test_first_join_without_inviter_leaves_user_without_parent(tmp_path, store, ingest):
    ingest(
        write_csv(
            tmp_path / "e.csv",
            [
                ["e1", "join", "", "carol", "2024-05-01 12:00:00", "", ""],
                ["e2", "join", "bob", "carol", "2024-05-02 12:00:00", "", ""],
            ],
        )
    )
    assert referred(store) == set()
    assert invited(store) == {("bob", "carol", 1)}
    [(by, joined)] = table_rows(
        store, "SELECT referred_by, joined_at::VARCHAR FROM users WHERE id = 'carol'"
    )
    assert by is None and joined.startswith("2024-05-01 04:00:00")


def test_reingest_adds_nothing_and_in_file_repeats_are_duplicates(tmp_path, store, ingest):
    path = write_csv(
        tmp_path / "e.csv",
        [
            ["", "join", "alice", "bob", T0, "", ""],
            ["", "join", "alice", "bob", T0, "", ""],  # same event, no id: same hash
            ["x1", "join", "alice", "carol", T0, "", ""],
            ["x1", "join", "zed", "carol", T0, "", ""],  # same id, other content: the first stays
        ],
    )
    first = ingest(path)
    assert (first.read, first.accepted, first.duplicates, first.rejected) == (4, 2, 1, 0)
    assert first.conflicts == 1
    assert {r[:2] for r in referred(store)} == {("alice", "bob"), ("alice", "carol")}
    before = snapshot(store)
    again = ingest(path)
    assert (again.read, again.accepted, again.duplicates, again.conflicts) == (4, 0, 3, 1)
    assert snapshot(store) == before
    assert store.stats().batches == 2
    counts = store.connection.sql("SELECT duplicates, conflicts FROM batches ORDER BY id")
    assert counts.fetchall() == [(1, 1), (3, 1)]


def _as_version_1(path: Path) -> int:
    """Turn a store into what Searchlight wrote at schema version 1: hashed
    ids over five fields, no conflicts count, no churn periods, no names."""
    with duckdb.connect(str(path)) as con:
        rehashed = con.execute(
            f"UPDATE events SET event_id = {legacy_hashed_event_id_sql()} "
            f"WHERE event_id = {hashed_event_id_sql()}"
        ).fetchall()[0][0]
        con.execute(
            "UPDATE referred SET event_id = (SELECT e.event_id FROM events e "
            "WHERE e.type = 'join' AND e.invitee_id = referred.invitee_id "
            "AND e.occurred_at = referred.at AND e.inviter_id = referred.referrer_id)"
        )
        con.execute("ALTER TABLE batches DROP COLUMN conflicts")
        con.execute("ALTER TABLE events DROP COLUMN invitee_name")
        con.execute("DROP TABLE churns")
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    return rehashed


def test_a_version_1_store_is_migrated_and_a_reingest_still_adds_nothing(tmp_path):
    def ingest(path: Path, store: EmbeddedStore):
        return ingest_file(store, path, quarantine=Quarantine(tmp_path / "q.csv"))

    path = write_csv(
        tmp_path / "e.csv",
        [
            ["", "join", "alice", "bob", T0, "", ""],
            ["", "convert", "", "bob", T0, "", "100"],
            ["", "churn", "", "bob", "2024-05-02 00:00:00", "", ""],
            ["x1", "join", "alice", "carol", T0, "", ""],  # a given id stays as it was
            ["", "join", "bob", "carol", "2024-05-03 00:00:00", "", ""],
        ],
    )
    db = tmp_path / "old.duckdb"
    with EmbeddedStore(db) as store:
        ingest(path, store)
        before = snapshot(store)
        ids = sorted(r[0] for r in store.connection.sql("SELECT event_id FROM events").fetchall())
    assert _as_version_1(db) == 4  # every id but x1 was hashed
    with pytest.raises(StoreError, match=r"schema version 1; .* to upgrade it \(koc migrate\)"):
        EmbeddedStore(db, read_only=True)
    with EmbeddedStore(db) as store:  # opened for writing: migrated
        assert store.connection.sql("SELECT value FROM meta").fetchall() == [("3",)]
        migrated = store.connection.sql("SELECT event_id FROM events").fetchall()
        assert sorted(r[0] for r in migrated) == ids and "x1" in ids
        assert snapshot(store) == before
        churned = store.read_graph(Window(until=datetime(2024, 5, 2, 12, tzinfo=UTC)))
        away = churned.users.to_pydict()
        assert dict(zip(away["id"], away["churned"], strict=True)) == {
            "alice": False,
            "bob": True,
            "carol": False,
        }
        again = ingest(path, store)
        assert (again.accepted, again.duplicates, again.conflicts) == (0, 5, 0)
    with EmbeddedStore(db, read_only=True) as store:
        assert store.stats().events == 5


def test_failure_mid_batch_leaves_store_unchanged(tmp_path, store, ingest):
    ingest(write_csv(tmp_path / "a.csv", [["", "join", "alice", "bob", T0, "", ""]]))
    before = snapshot(store)
    from loaders.pipeline import open_events

    good = list(
        open_events(
            write_csv(
                tmp_path / "b.csv",
                [
                    ["", "join", "bob", "carol", T0, "", ""],
                    ["", "join", "", "erin", T0, "", ""],
                ],
            )
        ).batches(None)
    )

    def batches_then_failure():
        yield from good
        raise RuntimeError("disk full (injected)")

    with pytest.raises(RuntimeError, match="injected"):
        store.ingest(batches_then_failure(), source="b.csv")
    assert snapshot(store) == before
    assert store.stats().batches == 1
    # The store is still usable after the rollback.
    assert store.ingest(iter(good), source="b.csv").accepted == 2


def test_process_killed_mid_ingest_leaves_store_as_before(tmp_path):
    db = tmp_path / "crash.duckdb"
    with EmbeddedStore(db) as s:
        s.ingest(iter([]), source="empty")
    path = write_csv(
        tmp_path / "e.csv", [[f"e{i}", "join", "alice", f"u{i}", T0, "", ""] for i in range(50)]
    )
    script = textwrap.dedent(f"""
        import os
        from graph.embedded import EmbeddedStore
        from loaders.pipeline import open_events
        store = EmbeddedStore({str(db)!r})
        def dying():
            yield from open_events({str(path)!r}).batches(None)
            store.connection.execute("SELECT count(*) FROM events").fetchall()
            os._exit(9)  # killed after the rows were written, before commit
        store.ingest(dying(), source="e.csv")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2])
    assert done.returncode == 9
    with EmbeddedStore(db, read_only=True) as s:
        assert s.stats().events == 0 and s.stats().batches == 1


def test_second_writer_gets_a_clear_error(tmp_path):
    db = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from graph.embedded import EmbeddedStore; s = EmbeddedStore({str(db)!r}); "
            "print('open', flush=True); import sys; sys.stdin.read()",
        ],
        cwd=Path(__file__).parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreLockedError, match=r"in use by another process \(PID \d+\)"):
            EmbeddedStore(db)
    finally:
        holder.communicate("")
    EmbeddedStore(db).close()  # free again once the holder is gone


def test_open_store_urls(tmp_path):
    with open_store(f"duckdb:///{tmp_path}/a.duckdb") as s:  # four slashes: absolute
        assert s.path == tmp_path / "a.duckdb"
        assert s.url == f"duckdb:///{tmp_path}/a.duckdb"
    with pytest.raises(StoreError, match="expected duckdb:///PATH"):
        open_store("duckdb://")
    with pytest.raises(StoreError, match="unsupported store URL scheme 'mysql'"):
        open_store("mysql://host/db")
    with pytest.raises(StoreError, match="no store at"):
        open_store(str(tmp_path / "missing.duckdb"), read_only=True)


def test_a_snapshot_saves_into_a_store_written_by_an_older_version(tmp_path, store, ingest):
    from graph.analysis.snapshot import analyze

    ingest(write_csv(tmp_path / "e.csv", [["", "join", "a", "b", "2024-05-01 12:00:00", "", ""]]))
    old = analyze(store).to_saved()
    # An older version saved fewer user columns and no flags table.
    old.users = old.users.drop_columns(["risk", "flag_rules"])
    old.flags = old.flags.slice(0, 0)
    store.save_snapshot(old)
    store.connection.execute("DROP TABLE snapshot_flags")
    new = analyze(store)
    store.save_snapshot(new.to_saved())
    latest = store.latest_snapshot()
    assert latest.id == new.id
    assert latest.users.select(new.users.column_names).equals(new.users)
    rows = store.connection.execute(
        "SELECT risk FROM snapshot_users WHERE snapshot_id = ?", [old.id]
    ).fetchall()
    assert rows and all(r[0] is None for r in rows)
