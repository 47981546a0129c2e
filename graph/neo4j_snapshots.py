"""Analysis snapshots in Neo4j: saved beside the latest, switched in one step.

A snapshot's tables (users, communities, flags) are stored whole as Arrow
IPC parts (`:SnapshotPart`), so what `latest_snapshot` reads back equals
what was saved, every column and type. The flagged users also become
`:Flag` nodes, which the live rankings check. While it is written the
snapshot is `saving` and the previous one stays the latest; marking it
`saved` is the switch. Only then are its results written onto the `:User`
nodes (for Neo4j Browser and Bloom). A save that dies midway leaves a
`saving` snapshot that the next save removes. `prune` deletes old snapshots
no export names (`exported_at`), with their parts, flags and written-back
user properties.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pyarrow as pa

from graph import cypher
from graph.neo4j_ingest import PARALLEL_WRITES, send_all, writer_lease
from graph.neo4j_runner import QueryRunner, native
from graph.store import SavedSnapshot, StoreError

# The analysis columns written onto the :User nodes, for Browser and Bloom.
WRITTEN_BACK = (
    "id",
    "koc_score",
    "community",
    "invites",
    "effective_invites",
    "reach",
    "gmv",
    "pagerank",
    "core",
    "flagged",
    "risk",
    "flag_rules",
)
# Each table and the order the embedded store reads it back in.
_TABLES = {
    "users": [("id", "ascending")],
    "communities": [("community", "ascending")],
    "flags": [("user_id", "ascending"), ("rule", "ascending")],
}
# Rows per stored part: about a megabyte of compressed columns for users.
_PART_ROWS = 50_000
_IPC = pa.ipc.IpcWriteOptions(compression="zstd")


def save(run: QueryRunner, snapshot: SavedSnapshot, size: int) -> None:
    flags = snapshot.flags if snapshot.flags is not None else empty_flags()
    tables = {"users": snapshot.users, "communities": snapshot.communities, "flags": flags}
    sid = {"snapshot_id": snapshot.id}
    with writer_lease(run):
        for row in run.read(cypher.UNFINISHED_SNAPSHOTS, {}):
            _drop(run, row["snapshot_id"], size)
        run.write(
            cypher.START_SNAPSHOT,
            {
                **sid,
                "computed_at": snapshot.computed_at,
                "watermark": snapshot.watermark,
                "params": json.dumps(snapshot.params),
                "summary": json.dumps(snapshot.summary),
            },
        )
        for name, table in tables.items():
            for seq, data in enumerate(_ipc_parts(table)):
                run.write(
                    cypher.WRITE_SNAPSHOT_PART, {**sid, "table": name, "seq": seq, "data": data}
                )
        for part in flags.select(["user_id", "rule"]).to_batches(max_chunksize=size):
            run.write(cypher.WRITE_FLAGS, {**sid, "rows": part.to_pylist()})
        run.write(cypher.FINISH_SNAPSHOT, sid)
        _write_back(run, snapshot, size)


def _write_back(run: QueryRunner, snapshot: SavedSnapshot, size: int) -> None:
    """The results operators style and filter by onto the users (every column
    stays in the snapshot's tables: writing all 30 onto 700k nodes took 90 s)."""
    users = snapshot.users.select([c for c in WRITTEN_BACK if c in snapshot.users.column_names])
    chunks = (
        {
            "snapshot_id": snapshot.id,
            "rows": [
                {"id": r["id"], "values": {k: v for k, v in r.items() if k != "id"}}
                for r in part.to_pylist()
            ],
        }
        for part in users.to_batches(max_chunksize=size)
    )
    send_all(run, cypher.WRITE_BACK_USERS, chunks, PARALLEL_WRITES)


def _ipc_parts(table: pa.Table) -> Iterator[bytes]:
    """The table as Arrow IPC streams of `_PART_ROWS` rows; at least one, so an
    empty table keeps its schema."""
    for start in range(0, max(table.num_rows, 1), _PART_ROWS):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema, options=_IPC) as writer:
            writer.write_table(table.slice(start, _PART_ROWS))
        yield sink.getvalue().to_pybytes()


def _delete_rows(run: QueryRunner, snapshot_id: str, size: int) -> None:
    params = {"snapshot_id": snapshot_id, "limit": size}
    while run.write(cypher.DELETE_SNAPSHOT_ROWS, params)[0]["deleted"]:
        pass


def _drop(run: QueryRunner, snapshot_id: str, size: int) -> None:
    _delete_rows(run, snapshot_id, size)
    run.write(cypher.DROP_SNAPSHOT, {"snapshot_id": snapshot_id})


def prune(run: QueryRunner, keep: int, size: int) -> list[str]:
    """Delete the snapshots past the newest `keep` that no export names: the
    users' written-back results first, the `:Snapshot` node last, so a prune
    that dies midway is finished by the next. The ids deleted, oldest first."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the latest snapshot stays), not {keep}")
    cleared = {name: None for name in (*WRITTEN_BACK, "snapshot_id") if name != "id"}
    with writer_lease(run):
        gone = [r["snapshot_id"] for r in run.read(cypher.SNAPSHOTS_TO_PRUNE, {"keep": keep})]
        for snapshot_id in gone:
            params = {"snapshot_id": snapshot_id, "limit": size, "cleared": cleared}
            while run.write(cypher.CLEAR_WRITTEN_BACK, params)[0]["cleared"]:
                pass
            _drop(run, snapshot_id, size)
    return gone


def record_export(run: QueryRunner, snapshot_id: str) -> None:
    now = datetime.now(UTC)
    found = run.write(cypher.RECORD_EXPORT, {"snapshot_id": snapshot_id, "now": now})
    if not found or not found[0]["found"]:
        raise StoreError(
            "no snapshot {snapshot_id!r} in the store (never saved, or pruned)",
            snapshot_id=snapshot_id,
        )


def ids(run: QueryRunner) -> list[str]:
    return [r["id"] for r in run.read(cypher.SNAPSHOT_IDS, {})]


def latest(run: QueryRunner) -> SavedSnapshot | None:
    rows = run.read(cypher.LATEST_SNAPSHOT, {})
    return _assemble(run, rows[0]) if rows else None


def read(run: QueryRunner, snapshot_id: str) -> SavedSnapshot | None:
    rows = run.read(cypher.READ_SNAPSHOT, {"snapshot_id": snapshot_id})
    return _assemble(run, rows[0]) if rows else None


def _assemble(run: QueryRunner, s: dict) -> SavedSnapshot:
    """A snapshot from its node's row and its stored tables."""
    tables = {}
    for name, order in _TABLES.items():
        parts = run.read(cypher.READ_SNAPSHOT_PARTS, {"snapshot_id": s["id"], "table": name})
        stored = [pa.ipc.open_stream(pa.py_buffer(p["data"])).read_all() for p in parts]
        tables[name] = pa.concat_tables(stored).sort_by(order) if stored else None
    return SavedSnapshot(
        s["id"],
        json.loads(s["params"]),
        native(s["computed_at"]),
        s["watermark"],
        json.loads(s["summary"]),
        tables["users"],
        tables["communities"],
        tables["flags"],
    )


def empty_flags() -> pa.Table:
    return pa.table(
        {name: pa.array([], pa.string()) for name in ("user_id", "rule", "reason", "evidence")}
    )
