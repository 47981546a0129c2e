"""The embedded store's reading views: another thread reads through its own
cursor, beside a write that is still running."""

from __future__ import annotations

import threading

import duckdb
import pytest

from graph.ingest import ingest_file
from loaders.quarantine import Quarantine
from tests.conftest import write_csv

T0 = "2024-05-01 12:00:00"


def test_a_reader_sees_the_last_commit_while_a_write_runs(tmp_path, store, ingest):
    ingest(write_csv(tmp_path / "a.csv", [["", "join", "alice", "bob", T0, "", ""]]))
    view = store.reader()
    later = [["", "join", "bob", f"u{i}", T0, "", ""] for i in range(50)]
    inside, release = threading.Event(), threading.Event()

    def hold(done: int, total: int) -> None:  # inside the batch's transaction
        if not inside.is_set():
            inside.set()
            release.wait(60)

    writing = threading.Thread(
        target=ingest_file,
        args=(store, write_csv(tmp_path / "b.csv", later)),
        kwargs={"quarantine": Quarantine(tmp_path / "q.csv"), "progress": hold},
    )
    writing.start()
    try:
        assert inside.wait(30)
        seen = {}
        reading = threading.Thread(
            target=lambda: seen.update(events=view.stats().events, bob=view.user("bob"))
        )
        reading.start()
        reading.join(10)
        assert seen["events"] == 1 and seen["bob"].referred_by == "alice"
    finally:
        release.set()
        writing.join(60)
    assert view.stats().events == 51 and view.watermark() == 2
    store.close()
    with pytest.raises(duckdb.Error):  # the view closes with its store
        view.stats()
