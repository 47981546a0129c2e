"""The store contract for pruning analysis snapshots: the newest `keep` and
every exported one stay, readable as saved; the others go with all their
rows (tables, flags, and in Neo4j the results written back onto users)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pyarrow.compute as pc
import pytest

from graph.analysis.snapshot import AnalysisParams, analyze
from graph.embedded import EmbeddedStore
from graph.store import SavedSnapshot, Store, StoreError
from tests.graph.contract.conftest import SKIPS
from tests.graph.contract.reads import SNAPSHOT_KEYS, same_table, top
from tests.graph.contract.test_snapshots import BURST, RULES

KEEP = 2


def versions(base: SavedSnapshot, count: int) -> list[SavedSnapshot]:
    """`count` snapshots one second apart, each with its own summary; from
    the third on, without friend0 (as a narrower window would leave it out)."""
    out = []
    for i in range(count):
        users = base.users
        if i >= 2:
            users = users.filter(pc.not_equal(users["id"], "friend0"))
        out.append(
            replace(
                base,
                id=f"snap-{i}",
                computed_at=base.computed_at + timedelta(seconds=i),
                summary={**base.summary, "users": users.num_rows, "version": i},
                users=users,
            )
        )
    return out


def leftovers(store: Store, snapshot_id: str) -> dict[str, int]:
    """What the store itself still holds of a snapshot, by where it lies."""
    if isinstance(store, EmbeddedStore):
        con = store._con
        return {
            table: con.execute(
                f"SELECT count(*) FROM {table} WHERE {key} = ?", [snapshot_id]
            ).fetchone()[0]
            for table, key in (
                ("snapshots", "id"),
                ("snapshot_users", "snapshot_id"),
                ("snapshot_communities", "snapshot_id"),
                ("snapshot_flags", "snapshot_id"),
            )
        }
    run = store._runner
    return {
        name: run.read(query, {"id": snapshot_id})[0]["n"]
        for name, query in (
            ("snapshots", "MATCH (s:Snapshot {id: $id}) RETURN count(s) AS n"),
            ("parts", "MATCH (p:SnapshotPart {snapshot_id: $id}) RETURN count(p) AS n"),
            ("flags", "MATCH (f:Flag {snapshot_id: $id}) RETURN count(f) AS n"),
            ("users", "MATCH (u:User {snapshot_id: $id}) RETURN count(u) AS n"),
        )
    }


def assert_same(got: SavedSnapshot | None, saved: SavedSnapshot) -> None:
    assert got is not None and got.id == saved.id
    assert (got.summary, got.computed_at, got.watermark) == (
        saved.summary,
        saved.computed_at,
        saved.watermark,
    )
    for name, keys in SNAPSHOT_KEYS.items():
        assert same_table(getattr(got, name), getattr(saved, name), keys), name


def test_pruning_keeps_the_newest_and_the_exported(feed):
    feed.load(BURST)
    store = feed.store
    snaps = versions(analyze(store, AnalysisParams(fraud=RULES)).to_saved(), KEEP + 2)
    pruned = []
    for i, snap in enumerate(snaps):
        store.save_snapshot(snap)
        if i == 0:
            store.record_export(snap.id)  # an export of the then latest
            store.record_export(snap.id)  # exported twice: still one snapshot
        pruned.append(store.prune_snapshots(KEEP))
    # snap-0 is exported; snap-1 falls past the newest two when snap-3 lands.
    assert pruned == [[], [], [], ["snap-1"]]
    assert store.snapshot_ids() == ["snap-3", "snap-2", "snap-0"]
    for kept in (snaps[3], snaps[2], snaps[0]):
        assert_same(store.read_snapshot(kept.id), kept)
    assert_same(store.latest_snapshot(), snaps[3])
    assert store.read_snapshot("snap-1") is None
    assert set(leftovers(store, "snap-1").values()) == {0}
    assert leftovers(store, "snap-0")["snapshots"] == 1
    assert sum(leftovers(store, "snap-0").values()) > 1  # its rows are all there
    # The live rankings still judge by the latest snapshot's flags.
    assert top(store) == [("farmer", 10, 0, 0), ("honest", 4, 4, 2)]
    with pytest.raises(StoreError, match="snap-1"):
        store.record_export("snap-1")
    with pytest.raises(StoreError, match="nope"):
        store.record_export("nope")
    # keep=1: only the latest and the exported one stay.
    assert store.prune_snapshots(1) == ["snap-2"]
    assert store.snapshot_ids() == ["snap-3", "snap-0"]
    assert store.prune_snapshots(1) == []
    with pytest.raises(ValueError, match="at least 1"):
        store.prune_snapshots(0)
    assert store.snapshot_ids() == ["snap-3", "snap-0"]


def test_pruning_an_empty_store_or_a_single_snapshot_does_nothing(feed):
    store = feed.store
    assert store.snapshot_ids() == [] and store.prune_snapshots(1) == []
    assert store.read_snapshot("snap-0") is None
    feed.load(BURST)
    (only,) = versions(analyze(store, AnalysisParams(fraud=RULES)).to_saved(), 1)
    store.save_snapshot(only)
    assert store.prune_snapshots(1) == []
    assert_same(store.read_snapshot(only.id), only)


@pytest.mark.parametrize("feed", [pytest.param("neo4j", marks=SKIPS["neo4j"])], indirect=True)
def test_pruning_clears_results_written_back_from_a_pruned_snapshot(feed):
    """Neo4j writes results onto :User nodes (the embedded store writes
    none): a user no kept snapshot covers loses those of the pruned one."""
    feed.load(BURST)
    store = feed.store
    snaps = versions(analyze(store, AnalysisParams(fraud=RULES)).to_saved(), KEEP + 2)
    for snap in snaps:
        store.save_snapshot(snap)
        store.prune_snapshots(KEEP)
    run = store._runner
    query = "MATCH (u:User {id: $id}) RETURN u.snapshot_id AS sid, u.koc_score AS score"
    # friend0 is in snap-0 and snap-1 only, both pruned: its results go.
    assert run.read(query, {"id": "friend0"}) == [{"sid": None, "score": None}]
    honest = run.read(query, {"id": "honest"})[0]
    assert honest["sid"] == "snap-3" and honest["score"] is not None
